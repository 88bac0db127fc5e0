// host/command.h: the command recorder (public: vkconv/command_recorder.h) and GPU timestamps
// (public: vkconv/profiling.h), implemented in host/command.cpp.
#pragma once

#include "vkconv/command_recorder.h"
#include "vkconv/profiling.h"
