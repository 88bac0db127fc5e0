// vkconv/context.h: the Vulkan context the engine computes on (see host/context.h).
#pragma once

#include "host/command.h"
#include "host/context.h"

namespace vkconv {

using Context = host::Context;
using ContextOptions = host::ContextOptions;
using DeviceInfo = host::DeviceInfo;
using CommandRecorder = host::CommandRecorder;
using host::list_devices;

}  // namespace vkconv
