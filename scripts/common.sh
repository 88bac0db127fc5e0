# scripts/common.sh: shared by scripts/run and scripts/test. Installs the Debian packages the
# project needs (only those missing) and configures + builds into $VKCONV_BUILD_DIR (default build/).
set -euo pipefail

VKCONV_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VKCONV_BUILD_DIR=${VKCONV_BUILD_DIR:-$VKCONV_ROOT/build}

VKCONV_PACKAGES=(
  cmake g++ make pkg-config
  libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers vulkan-tools
  glslang-tools spirv-tools
  libglm-dev libgtest-dev libgmock-dev
  libcli11-dev nlohmann-json3-dev libstb-dev
  libonnx-dev libprotobuf-dev libonnx-testdata
  python3-torch python3-torchvision   # the exporter, fixture scripts and end-to-end model tests
  pybind11-dev python3-dev python3-numpy python3-pytest   # the Python package and its tests
)

vkconv_install_deps() {
  local missing=()
  for p in "${VKCONV_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    echo "== installing missing packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# Makes Debian's python3 import the package from the build: a .pth file naming
# $VKCONV_BUILD_DIR/python in the user's site-packages of /usr/bin/python3 (what it prints).
vkconv_python_path() {
  local dir="$VKCONV_BUILD_DIR/python" site
  [ -f "$dir/vkconv/__init__.py" ] || return 0
  site=$(/usr/bin/python3 -m site --user-site 2>/dev/null) || return 0
  mkdir -p "$site" && echo "$dir" >"$site/vkconv-build.pth"
  echo "== python3 imports vkconv from $dir (via $site/vkconv-build.pth)"
}

vkconv_build() {
  echo "== building in $VKCONV_BUILD_DIR"
  cmake -S "$VKCONV_ROOT" -B "$VKCONV_BUILD_DIR" -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}" "$@" >/dev/null
  cmake --build "$VKCONV_BUILD_DIR" -j "$(nproc)"
}
