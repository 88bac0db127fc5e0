# cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -P run.cmake
file(REMOVE_RECURSE ${WORK_DIR})
foreach(step
    "${CMAKE_COMMAND};--install;${BUILD_DIR};--prefix;${WORK_DIR}/prefix;--component;Unspecified"
    "${CMAKE_COMMAND};-S;${SOURCE_DIR};-B;${WORK_DIR}/build;-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix"
    "${CMAKE_COMMAND};--build;${WORK_DIR}/build"
    "${WORK_DIR}/build/consumer")
  execute_process(COMMAND ${step} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "step failed (${rc}): ${step}")
  endif()
  if(step MATCHES "--install")
    # Only the public headers are installed: none reaches the private runtime (host/).
    file(GLOB_RECURSE headers ${WORK_DIR}/prefix/include/*.h)
    foreach(h ${headers})
      file(STRINGS ${h} private REGEX "#include \"host/")
      if(private OR h MATCHES "/host/|testing.h")
        message(FATAL_ERROR "installed header reaches the private runtime: ${h}")
      endif()
    endforeach()
  endif()
endforeach()
