// Nodes' reports (services/proto/microlith_observer.proto) as Prometheus's text exposition
// format (version 0.0.4), what GET /metrics answers: each metric family once, with its HELP and
// TYPE lines and every node's samples together; counters end in `_total`, latencies are
// `_seconds` histograms with cumulative buckets (`le="+Inf"` included), `_sum` and `_count`.
//
// Every sample has a `node` label: the report's node, or for a one-process system (node "")
// the report's system name, or "local" when that is empty too. Families:
//
//   microlith_calls_total{node,service,method}                      counter
//   microlith_call_errors_total{node,service,method,kind}           counter
//   microlith_call_duration_seconds{node,service,method}            histogram
//   microlith_http_requests_total{node,group,route,target,status}        counter
//   microlith_http_request_duration_seconds{node,group,route,target}     histogram
//   microlith_child_restarts_total{node,group,child}                counter
//   microlith_child_up{node,group,child}                            gauge (1 running, else 0)
//   microlith_child_last_exit_timestamp_seconds{node,group,child}   gauge (children that
//                                                                   exited abnormally)
//   microlith_mailbox_messages{node,group,child}                    gauge (where reported)
//   microlith_jobs{node,queue,state}                                gauge
//   microlith_scheduler_threads{node}                               gauge
//   microlith_scheduler_utilisation_ratio{node}                     gauge (0..1)
//   process_resident_memory_bytes{node}                             gauge
//   process_cpu_seconds_total{node}                                 counter
//   process_start_time_seconds{node}                                gauge
//
// The tree's entries below the system's root are groups; `child` names an entry below its
// group by the path of ids from the group down, joined by "/" ("accounts", "pool/pool-3").
// A tree whose root is not a "system" (one supervisor's) is taken as one group.
#pragma once

#include "proto/microlith_observer.pb.h"

#include <string>
#include <vector>

namespace microlith::observer {

/// The `node` label of `report`'s samples: its node, else its system, else "local".
std::string node_label(const v1::NodeReport& report);

/// `reports` in Prometheus's text format (ends with a newline).
std::string prometheus_text(const std::vector<v1::NodeReport>& reports);

} // namespace microlith::observer
