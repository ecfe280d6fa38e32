// skycore/skycore.h — everything a C++ user of skycore needs, in one include.
#pragma once

#include "skycore/dag.h"
#include "skycore/error.h"
#include "skycore/resources.h"
#include "skycore/sdk.h"
#include "skycore/task.h"
#include "skycore/version.h"
#include "skycore/yaml.h"
