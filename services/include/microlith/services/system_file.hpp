// The system file: the TOML document that describes one microlith system, i.e.
// which supervision groups exist, which module implements each of them, how they
// are supervised and restarted, in which order they start, and (optionally) how
// they are spread over the nodes of a cluster. This header declares the plain
// data model for that description and the parser that reads it, and reports every
// problem it finds (not just the first) with file, line, column and dotted key.
// The parser knows the common keys only; every other table of a group belongs to
// the group's module, whose settings reader (module.hpp) reads it during the parse
// and reports its mistakes the same way.
//
// The format:
//
//     [system]
//     name = "bank"              # required, [A-Za-z0-9_.-]+
//     threads = 2                # optional, scheduler threads, 0 or absent = hardware
//                                #   concurrency; otherwise 1..256
//     idle_spin_polls = 100      # optional, default 100: polls an idle scheduler thread
//                                #   makes before it sleeps, 1..10000000; more answer
//                                #   sooner after a lull, fewer keep pipelined throughput
//                                #   (node_options::idle_spin_polls; docs/benchmarks.md)
//     idle_nap_polls = 0         # optional, default 0: polls with 50 us naps between them
//                                #   after the spinning, before the thread blocks until
//                                #   work comes, 0..10000000 (node_options::idle_nap_polls)
//     idle_wait = "1ms"          # optional, default "1ms": how long a blocked idle thread
//                                #   waits before it looks for work to steal (> 0)
//                                #   (node_options::idle_wait)
//     shutdown_timeout = "10s"   # optional, default "10s": the whole node's graceful
//                                #   stop budget (> 0)
//     log_level = "info"         # optional: trace|debug|info|warn|error, default info
//
//     [groups.ledger]            # the key is the group's name, [A-Za-z0-9_.-]+; that the
//                                #   module defines the group is checked elsewhere
//     module = "bank.ledger"     # required, non-empty
//     needs = []                 # optional: groups started before this one (stopped after);
//                                #   a gateway group also starts after the groups whose
//                                #   modules declare routes (group_config::route_needs)
//     restart = "permanent"      # optional: permanent|transient|temporary, default permanent
//     strategy = "one_for_one"   # optional: one_for_one|one_for_all|rest_for_one,
//                                #   default one_for_one
//     intensity = 1              # optional integer >= 0, default 1
//     period = "5s"              # optional duration > 0, default 5s
//     shutdown = "5s"            # optional: duration (>= 0), "infinity" or "brutal_kill";
//                                #   default "infinity" (a group is a supervisor)
//     [groups.ledger.backoff]    # optional; absent = restart immediately
//     min = "10ms"               # required, > 0
//     max = "1s"                 # required, >= min
//     jitter = 0.2               # optional number 0.0..1.0, default 0.2
//     reset_after = "30s"        # optional duration > 0, default 30s
//     [groups.ledger.config]     # optional free-form table handed to the module; values
//                                #   must be strings, integers, floats or booleans (unless
//                                #   the module declares a config table of its own)
//
//     [groups.payments.jobs.QUEUE]  # optional, any group: a queue of background jobs
//                                #   (jobs_config.hpp; docs/jobs.md), read by the jobs
//                                #   capability, not by the group's module
//     method = "payments.Process"   # required: the service method that runs a job
//     concurrency = 10           # optional, 1..1000; max_attempts = 20 optional, 1..1000
//     timeout = "30s"            # optional; backoff_base = "15s", backoff_unit = "1s",
//                                #   backoff_max = "24h", backoff_jitter = 0.1 optional
//
//     [groups.ledger.TABLE]      # any other table of a group belongs to the group's module,
//                                #   which declares and reads it (module_definition::settings,
//                                #   settings_table.hpp); the built-in gateway's [http] and
//                                #   [routes] tables are described in gateway_module.hpp
//
//     [nodes.a]                  # optional; no nodes at all = a one-process system
//     listen = "127.0.0.1:7001"  # required host:port ("[::1]:7001" for IPv6), port
//                                #   0..65535 (0 = the OS chooses)
//     groups = ["ledger"]        # required, non-empty; a group may be on several nodes
//
//     [cluster]                  # optional
//     cookie = "secret"          # optional shared secret
//     heartbeat_interval = "200ms"  # optional duration > 0
//     heartbeat_timeout = "1s"      # optional duration, must be > heartbeat_interval
//
//     [admin]                    # optional: the one token of every admin operation
//     token = "..."              # optional, at least 16 characters of A-Z a-z 0-9 - . _ ~ + /;
//                                #   the environment variable MICROLITH_ADMIN_TOKEN, when
//                                #   set, wins over it
//                                #   (admin_token_for, host.hpp; docs/admin.md)
//
//     [modules]                  # optional: where the modules uploaded to a running node are
//                                #   kept (module_store.hpp; docs/modules.md)
//     dir = "modules"            # optional folder, relative to this file's folder; absent =
//                                #   no module store
//     required = ["acme.statements"]  # optional module names (a-z 0-9 _ ., not starting
//                                #   with '.', without ".."), no duplicates, needs dir: the
//                                #   node does not start unless each of them loads
//     max_archive_bytes = 67108864  # optional, default 64 MiB: the largest archive accepted,
//                                #   1024..1073741824
//
//     [toggles]                  # optional: feature toggles (docs/toggles.md)
//     database = "toggles.db"    # optional SQLite file, relative to this file's folder; absent
//                                #   = values kept in memory only
//     test_overrides = false     # optional, default false
//     require_override = false   # optional, default false
//     [toggles."bank.transfer_fee"]  # optional, one per toggle the file declares
//     default = false            # required boolean
//     description = "..."        # required string
//     [jobs]                     # optional, required by any jobs queue: the job store
//     database = "jobs.sqlite"   # required SQLite file, relative to this file's folder
//     synchronous = "full"       # optional: "full" (default) or "normal"
//     poll_interval = "1s"       # optional duration > 0, default 1s
//     [jobs.cron.NAME]           # optional, any number: a cron schedule (docs/jobs.md, "Cron")
//     schedule = "0 3 * * *"     # required: 5 fields or @hourly-style name
//     queue = "reports"          # required: a queue some group declares
//     message = '{"text": "x"}'  # optional Protobuf JSON of the queue's request type
//     timezone = "Europe/Paris"  # optional IANA name, default "UTC"
//     missed = "skip"            # optional: "skip" (default) or "catch_up"
//     max_catch_up = 100         # optional, 1..100000
//     priority = 0               # optional, 0..9
//     max_attempts = 20          # optional, 1..1000, default the queue's
//
// Durations are strings made of a non-negative integer and a unit, one of ms, s,
// m, h ("250ms", "5s", "2m"). When nodes are declared, every group must be placed
// on at least one node, and no two nodes may listen on the same host and non-zero
// port. Unknown keys are errors everywhere except inside a free-form
// [groups.NAME.config]: in [groups.NAME], a table that the group's module does not
// declare is refused naming the module(s) that do; inside a module's table, a key
// its reader does not ask for is refused listing the keys it asks for.
#pragma once

#include "microlith/net/gateway/route_table.hpp"
#include "microlith/services/jobs_config.hpp"
#include "microlith/supervision/policy.hpp"

#include <any>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace microlith {

class module_catalogue;

/// How long a group is given to stop before it is killed.
struct shutdown_setting {
  enum class kind { timeout, infinity, brutal_kill };
  kind k = kind::infinity;
  std::chrono::milliseconds timeout{0}; ///< meaningful only when k == kind::timeout
};

/// Delay between consecutive restarts of a group (exponential, with jitter).
struct backoff_config {
  std::chrono::milliseconds min{0};
  std::chrono::milliseconds max{0};
  double jitter = 0.2;
  std::chrono::milliseconds reset_after{30000};
};

/// One scalar of a group's free-form [groups.NAME.config] table.
using config_value = std::variant<bool, std::int64_t, double, std::string>;

/// A route that a module declares in code (module_definition::route), as the groups that serve
/// such routes (gateway groups) get it.
struct module_route {
  std::string module;       ///< the module that declares it ("acme.statements")
  gateway::route_spec spec; ///< as declared; its origin is "module acme.statements"
};

/// One [groups.NAME] table.
struct group_config {
  std::string name;
  std::string module;
  std::vector<std::string> needs;
  restart_type restart = restart_type::permanent;
  microlith::strategy strategy = microlith::strategy::one_for_one;
  int intensity = 1;
  std::chrono::milliseconds period{5000};
  shutdown_setting shutdown;
  std::optional<backoff_config> backoff;
  std::map<std::string, config_value> config; ///< the free-form [groups.NAME.config] table
  std::any settings;   ///< what the module's settings reader made of the group's tables
                       ///<   (module_definition::settings); empty when it has none
  int line = 0;        ///< line of the [groups.NAME] header
  int module_line = 0; ///< line of the module key
  /// For a group whose module serves the routes modules declare (the gateway,
  /// module_definition::serve_module_routes): the well-formed routes that the modules of the
  /// system's groups declare, each module once, in the order its first group comes in the file.
  std::vector<module_route> module_routes;
  /// For such a group: the other groups whose modules declare routes. It starts after them as
  /// if they were in `needs` (their services must have registered when its routes are built).
  std::vector<std::string> route_needs;
  /// The queues of its [groups.NAME.jobs.QUEUE] tables, in file order (jobs_config.hpp).
  std::vector<job_queue_config> job_queues;
  /// The system's data folder (system_config::data_folder), for group_context::data_path().
  std::string data_folder;

  /// `needs`, then the `route_needs` not among them: every group it starts after.
  std::vector<std::string> all_needs() const;
};

/// One [nodes.NAME] table.
/// A [cluster.tls] or [nodes.NAME.tls] table: encrypted, pinned node links (docs/cluster.md,
/// "Security"). Paths are resolved against the system file's folder.
struct tls_config {
  std::string certificate;
  std::string key;
  std::vector<std::string> trusted_certificates; ///< pinned certificate files
  std::vector<std::string> trusted_fingerprints; ///< pinned "sha256:..." entries, 64 lowercase hex
  std::string table;                             ///< "cluster.tls" or "nodes.NAME.tls"
  int line = 0;                                  ///< line of the table's header
};

struct node_config {
  std::string name;
  std::string host;
  std::uint16_t port = 0;
  std::vector<std::string> groups;
  int line = 0;                  ///< line of the [nodes.NAME] header
  std::optional<tls_config> tls; ///< [nodes.NAME.tls]: this node's own, instead of [cluster.tls]
};

/// The optional [cluster] table.
struct cluster_config {
  std::string cookie;
  std::optional<std::chrono::milliseconds> heartbeat_interval;
  std::optional<std::chrono::milliseconds> heartbeat_timeout;
  std::optional<tls_config> tls; ///< [cluster.tls]
};

/// The optional [admin] table.
struct admin_config {
  std::string token; ///< empty when the file sets none (admin_token_for adds the environment)
  int line = 0;      ///< line of the token key; 0 when absent
};

/// The optional [modules] table: where a node keeps the modules uploaded to it (module_store.hpp).
struct modules_config {
  std::string dir; ///< [modules] dir, resolved against the system file's folder when relative;
                   ///< empty = no module store
  std::vector<std::string> required; ///< [modules] required: module names that must load or the
                                     ///< node does not start
  std::size_t max_archive_bytes = 64 * 1024 * 1024; ///< [modules] max_archive_bytes
                                                    ///< (1 KiB .. 1 GiB)
  int line = 0;                                     ///< line of the [modules] header; 0 = absent
};

/// A toggle declared in the system file's [toggles] table (`[toggles."bank.transfer_fee"]`).
struct toggle_declaration {
  std::string name;
  bool default_value = false;
  std::string description;
  int line = 0; ///< line of its table
};

/// The optional [toggles] table: where a node keeps its toggle values and the toggles the file
/// declares (docs/toggles.md).
struct toggles_config {
  std::string database; ///< [toggles] database, resolved against the system file's folder when
                        ///< relative; empty = values are kept in memory only
  bool test_overrides = false;              ///< [toggles] test_overrides
  bool require_override = false;            ///< [toggles] require_override
  std::vector<toggle_declaration> declared; ///< in file order
  int line = 0;                             ///< line of the [toggles] header; 0 = absent
};

/// Where a process serves its own node's metrics without a gateway group: the optional
/// [observer] table (docs/observer.md, "A node's own metrics").
struct observer_metrics_listen {
  std::string host;
  std::uint16_t port = 0; ///< 0 = the OS chooses (logged, and host::http_port("observer"))
  int line = 0;           ///< line of the key
  int column = 0;
};

/// The optional [observer] table.
struct observer_config {
  /// [observer] metrics: where a system run in one process serves GET /metrics itself.
  std::optional<observer_metrics_listen> metrics;
  /// [observer.nodes.NAME] metrics: where node NAME (a [nodes.NAME]) serves its own metrics.
  std::map<std::string, observer_metrics_listen> node_metrics;
  /// [observer] metrics_access = "open" (default) or "admin" (the admin token).
  bool metrics_need_token = false;
  int access_line = 0; ///< line of metrics_access; 0 when absent
  int line = 0;        ///< line of the [observer] header; 0 = absent

  /// Where the process run with `placement` ("" = the whole system) serves its own metrics.
  const observer_metrics_listen* metrics_of(const std::string& placement) const;
};

/// A whole, validated system file.
struct system_config {
  std::string path;
  std::string name;
  /// Where what must survive a restart is kept: `[system] data` (relative to the file's folder),
  /// or the folder given to the parser (`microlith run --data DIR`), or else the file's folder
  /// (empty for a file named without a folder: the working directory). Relative paths of
  /// [modules] dir, [toggles] database, [jobs] database and of files that modules keep
  /// (group_context::data_path) are resolved against it.
  std::string data_folder;
  int data_line = 0;                      ///< line of [system] data; 0 when the file has none
  int threads = 0;                        ///< 0 = hardware concurrency
  std::size_t idle_spin_polls = 100;      ///< node_options::idle_spin_polls
  std::size_t idle_nap_polls = 0;         ///< node_options::idle_nap_polls
  std::chrono::milliseconds idle_wait{1}; ///< node_options::idle_wait
  std::chrono::milliseconds shutdown_timeout{10000};
  std::string log_level = "info";
  std::vector<group_config> groups; ///< in file order
  std::vector<node_config> nodes;   ///< in file order
  cluster_config cluster;
  admin_config admin;
  modules_config modules;
  toggles_config toggles;
  jobs_config jobs;         ///< the optional [jobs] table
  observer_config observer; ///< the optional [observer] table

  /// The group called `name`, or nullptr if there is none.
  const group_config* find_group(std::string_view name) const;

  /// All groups, each after the groups it needs (group_config::all_needs); among the
  /// groups whose needs are met, the earliest in the file comes first (so without needs:
  /// file order).
  std::vector<const group_config*> start_order() const;
};

/// One problem found in a system file. line and column are 1-based; 0 means the
/// problem concerns the file as a whole.
struct system_file_error {
  std::string file;
  int line = 0;
  int column = 0;
  std::string key; ///< dotted key, e.g. "groups.accounts.strategy"; may be empty
  std::string message;

  /// "bank.toml:12:3: groups.accounts.strategy: expected one of ..., got \"x\"".
  std::string to_string() const;
};

/// Thrown when a system file cannot be read or is invalid; carries every error found.
class system_file_errors : public std::runtime_error {
public:
  /// what() is every error's to_string(), joined by '\n'.
  explicit system_file_errors(std::vector<system_file_error> errors);

  /// The errors, ordered by position in the file.
  const std::vector<system_file_error>& errors() const noexcept;

private:
  std::vector<system_file_error> errors_;
};

/// Parses and validates the TOML document `text`; `path` is used in error messages.
/// A group's tables other than the common keys are read by its module's settings
/// reader, found in `modules` (a group whose module is not there may have only a
/// free-form config table; check_system() reports the missing module). The routes the
/// modules declare in code go to the groups that serve them (group_config::module_routes,
/// route_needs), and a dependency cycle they close is an error. Throws system_file_errors
/// listing all errors found. A non-empty `data_folder` is the system's data folder whatever the
/// file says (`microlith run --data DIR`; system_config::data_folder).
system_config parse_system_file(std::string_view text, std::string_view path,
                                const module_catalogue& modules,
                                const std::string& data_folder = {});

/// parse_system_file() with the modules linked into this program
/// (module_catalogue::global()).
system_config parse_system_file(std::string_view text, std::string_view path);

/// Reads and parses the file at `path`. An unreadable file throws system_file_errors
/// naming the path and the OS reason. `data_folder` as for parse_system_file().
system_config load_system_file(const std::string& path, const module_catalogue& modules,
                               const std::string& data_folder = {});

/// load_system_file() with the modules linked into this program.
system_config load_system_file(const std::string& path);

/// Why `token` cannot be the admin token ([admin] token, MICROLITH_ADMIN_TOKEN): it must be at
/// least 16 characters of A-Z a-z 0-9 - . _ ~ + / (what a Bearer header carries). Nothing when
/// it can. The message gives its length, never the token.
std::optional<std::string> admin_token_problem(std::string_view token);

/// "250ms" -> 250ms, "5s", "2m", "1h"; nullopt if the text is not digits followed by
/// one of ms, s, m, h, or if the value does not fit in milliseconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

} // namespace microlith
