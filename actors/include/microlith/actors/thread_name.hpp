// Names the threads microlith starts, so that tools that list a process's threads (top -H, ps -L,
// /proc/PID/task/*/comm, the observer's count of CAF's scheduler threads) tell them apart. A
// thread otherwise inherits the name of the thread that started it: one started from an actor's
// constructor would pass for one of CAF's scheduler workers ("caf.multiplexer").
#pragma once

namespace microlith {

/// Names the calling thread `name` (Linux keeps the first 15 characters).
void name_this_thread(const char* name) noexcept;

} // namespace microlith
