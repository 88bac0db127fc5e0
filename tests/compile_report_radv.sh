#!/bin/sh
# The compile report on one of Mesa RADV's null devices: AMD's shader compiler (ACO) for a chip
# family, no GPU needed. Every convolution pipeline Auto picks for the suite and for the given
# models must compile without spilling registers or using scratch memory, at MIN_WAVES or more
# waves per SIMD (vkconv compile-report --check). Skips (77) only where the RADV driver is absent.
# usage: compile_report_radv.sh VKCONV FAMILY MIN_WAVES [MODEL...]
set -u
vkconv=$1 family=$2 min_waves=$3
shift 3
icd=/usr/share/vulkan/icd.d/radeon_icd.x86_64.json
if [ ! -f "$icd" ]; then
    echo "skipped: the RADV driver is not installed ($icd; Debian: mesa-vulkan-drivers)"
    exit 77
fi
models=""
for m in "$@"; do models="$models --model $m"; done
# Only RADV is enumerated; no pipeline-cache file is written for the null device.
# shellcheck disable=SC2086
VK_ICD_FILENAMES=$icd VK_DRIVER_FILES=$icd RADV_FORCE_FAMILY=$family VKCONV_CACHE_DIR=off \
    "$vkconv" compile-report --suite $models --check --min-waves "$min_waves"
