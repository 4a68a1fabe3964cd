#include "jobs/jobs_settings.hpp"

#include "detail/data_folder.hpp"
#include "detail/toml_text.hpp"
#include "jobs/cron_schedule.hpp"
#include "jobs/time_zone.hpp"

#include "microlith/actors/error.hpp"
#include "microlith/services/job_store.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <utility>

#include <fmt/format.h>

namespace microlith::detail {

namespace {

constexpr std::string_view duration_expectation =
  "expected a duration such as \"250ms\", \"5s\", \"2m\" or \"1h\"";

/// Reads the keys of one table, each mistake an error naming the file, line, column and key.
class table_reader {
public:
  table_reader(const toml::table& table, std::string key, const std::string& path,
               std::vector<system_file_error>& errors)
    : table_(table), key_(std::move(key)), path_(path), errors_(errors) {}

  void add_error(const toml::source_region& at, std::string key, std::string message) {
    errors_.push_back(system_file_error{path_, static_cast<int>(at.begin.line),
                                        static_cast<int>(at.begin.column), std::move(key),
                                        std::move(message)});
  }

  std::string key(std::string_view name) const { return join_key(key_, name); }

  /// Refuses every key not in `allowed`.
  void check_keys(std::initializer_list<std::string_view> allowed) {
    for (auto&& [k, v] : table_) {
      (void)v;
      if (std::find(allowed.begin(), allowed.end(), k.str()) != allowed.end())
        continue;
      add_error(k.source(), key(k.str()),
                fmt::format("unknown key {}; expected one of {}", quote(k.str()),
                            fmt::join(allowed, ", ")));
    }
  }

  const toml::node* string(std::string_view name, bool required, std::string_view expected,
                           std::string& out) {
    const toml::node* node = table_.get(name);
    if (node == nullptr) {
      if (required)
        add_error(table_.source(), key(name),
                  fmt::format("missing required key {}; expected {}", quote(name), expected));
      return nullptr;
    }
    const auto* text = node->as_string();
    if (text == nullptr || text->get().empty()) {
      add_error(node->source(), key(name),
                fmt::format("expected {}, got {}", expected, describe_value(*node)));
      return nullptr;
    }
    out = text->get();
    return node;
  }

  void integer(std::string_view name, std::int64_t min, std::int64_t max, int& out) {
    const toml::node* node = table_.get(name);
    if (node == nullptr)
      return;
    const auto* value = node->as_integer();
    if (value == nullptr || value->get() < min || value->get() > max) {
      add_error(
        node->source(), key(name),
        fmt::format("expected an integer from {} to {}, got {}", min, max, describe_value(*node)));
      return;
    }
    out = static_cast<int>(value->get());
  }

  void duration(std::string_view name, bool allow_zero, std::chrono::milliseconds& out) {
    const toml::node* node = table_.get(name);
    if (node == nullptr)
      return;
    const auto* text = node->as_string();
    const auto value = text != nullptr ? parse_duration(text->get()) : std::nullopt;
    if (!value) {
      add_error(node->source(), key(name),
                fmt::format("{}, got {}", duration_expectation, describe_value(*node)));
      return;
    }
    if (!allow_zero && value->count() == 0) {
      add_error(node->source(), key(name),
                fmt::format("expected a duration greater than 0, got {}", describe_value(*node)));
      return;
    }
    out = *value;
  }

  void fraction(std::string_view name, double& out) {
    const toml::node* node = table_.get(name);
    if (node == nullptr)
      return;
    const auto* value = node->as_floating_point();
    const auto* whole = node->as_integer();
    const double v = value != nullptr   ? value->get()
                     : whole != nullptr ? static_cast<double>(whole->get())
                                        : -1.0;
    if (!(v >= 0.0 && v <= 1.0)) {
      add_error(node->source(), key(name),
                fmt::format("expected a number from 0 to 1, got {}", describe_value(*node)));
      return;
    }
    out = v;
  }

  const toml::table& table() const { return table_; }

private:
  const toml::table& table_;
  std::string key_;
  const std::string& path_;
  std::vector<system_file_error>& errors_;
};

/// The [jobs.cron.NAME] tables of `table` (the [jobs.cron] table).
std::vector<job_cron_config> read_cron_schedules(const toml::table& table, const std::string& path,
                                                 std::vector<system_file_error>& errors) {
  std::vector<job_cron_config> out;
  table_reader all{table, "jobs.cron", path, errors};
  for (auto&& [k, v] : table) {
    const std::string name{k.str()};
    const auto* schedule_table = v.as_table();
    if (schedule_table == nullptr) {
      all.add_error(v.source(), all.key(name),
                    fmt::format("expected a schedule's table [jobs.cron.{}], got {}", name,
                                type_description(v)));
      continue;
    }
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_name_char)) {
      all.add_error(k.source(), all.key(name),
                    fmt::format("invalid schedule name {}; expected letters, digits, '_', '.' "
                                "and '-'",
                                quote(name)));
      continue;
    }
    job_cron_config c;
    c.name = name;
    c.line = static_cast<int>(schedule_table->source().begin.line);
    table_reader r{*schedule_table, all.key(name), path, errors};
    r.check_keys({"schedule", "queue", "message", "timezone", "missed", "max_catch_up", "priority",
                  "max_attempts"});
    if (const auto* node = r.string(
          "schedule", true, "a cron schedule such as \"*/15 * * * *\" or \"@daily\"", c.schedule)) {
      auto parsed = cron_schedule::parse(c.schedule);
      if (!parsed)
        r.add_error(node->source(), r.key("schedule"), message_of(parsed.error()));
    }
    r.string("queue", true, "the name of a declared queue", c.queue);
    if (const auto* node = schedule_table->get("message")) {
      if (const auto* text = node->as_string()) {
        c.message = text->get();
        c.message_line = static_cast<int>(node->source().begin.line);
      } else {
        r.add_error(node->source(), r.key("message"),
                    fmt::format("expected the job's message as Protobuf JSON in a string, got {}",
                                describe_value(*node)));
      }
    }
    if (const auto* node =
          r.string("timezone", false, "an IANA time zone such as \"Europe/Paris\"", c.timezone)) {
      auto zone = time_zone::load(c.timezone);
      if (!zone)
        r.add_error(node->source(), r.key("timezone"), message_of(zone.error()));
    }
    std::string missed;
    if (const auto* node = r.string("missed", false, "\"skip\" or \"catch_up\"", missed)) {
      if (missed == "skip" || missed == "catch_up")
        c.catch_up = missed == "catch_up";
      else
        r.add_error(node->source(), r.key("missed"),
                    fmt::format("expected \"skip\" or \"catch_up\", got {}", quote(missed)));
    }
    r.integer("max_catch_up", 1, 100000, c.max_catch_up);
    r.integer("priority", 0, 9, c.priority);
    r.integer("max_attempts", 1, 1000, c.max_attempts);
    out.push_back(std::move(c));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.line < b.line; });
  return out;
}

} // namespace

jobs_config read_jobs_settings(const toml::table& table, const std::string& path,
                               const std::string& data_folder,
                               std::vector<system_file_error>& errors) {
  jobs_config out;
  out.line = static_cast<int>(table.source().begin.line);
  table_reader r{table, "jobs", path, errors};
  r.check_keys({"database", "synchronous", "poll_interval", "cron"});
  std::string database;
  if (const auto* node = r.string("database", true,
                                  "the job store as a string: a SQLite file, or a PostgreSQL URL "
                                  "(postgresql://USER@HOST:PORT/DATABASE)",
                                  database)) {
    if (database.find('\0') != std::string::npos) {
      r.add_error(node->source(), "jobs.database",
                  fmt::format("expected a SQLite file or a PostgreSQL URL "
                              "(postgresql://USER@HOST:PORT/DATABASE), got {}",
                              quote(database)));
    } else if (is_postgres_url(database)) {
      out.database = database; // a server's, not a path in the data folder
    } else if (database.rfind("postgresql:", 0) == 0 || database.rfind("postgres:", 0) == 0) {
      r.add_error(node->source(), "jobs.database",
                  fmt::format("expected a PostgreSQL URL of the form "
                              "postgresql://USER@HOST:PORT/DATABASE, got {}",
                              quote(database)));
    } else {
      out.database = in_data_folder(data_folder, database);
    }
  }
  std::string sync;
  if (const auto* node = r.string("synchronous", false, "\"full\" or \"normal\"", sync)) {
    if (sync == "full" || sync == "normal")
      out.synchronous_full = sync == "full";
    else
      r.add_error(node->source(), "jobs.synchronous",
                  fmt::format("expected \"full\" or \"normal\", got {}", quote(sync)));
  }
  r.duration("poll_interval", false, out.poll_interval);
  if (const auto* cron = table.get("cron")) {
    if (const auto* schedules = cron->as_table())
      out.cron = read_cron_schedules(*schedules, path, errors);
    else
      r.add_error(cron->source(), "jobs.cron",
                  fmt::format("expected the schedules' tables [jobs.cron.NAME], got {}",
                              type_description(*cron)));
  }
  return out;
}

std::vector<job_queue_config> read_job_queues(const toml::table& table, const std::string& key,
                                              const std::string& path,
                                              std::vector<system_file_error>& errors) {
  std::vector<job_queue_config> out;
  table_reader group{table, key, path, errors};
  for (auto&& [k, v] : table) {
    const std::string name{k.str()};
    const auto* queue_table = v.as_table();
    if (queue_table == nullptr) {
      group.add_error(
        v.source(), group.key(name),
        fmt::format("expected a queue's table [{}.{}], got {}", key, name, type_description(v)));
      continue;
    }
    if (name.empty() || !std::all_of(name.begin(), name.end(), is_name_char)) {
      group.add_error(k.source(), group.key(name),
                      fmt::format("invalid queue name {}; expected letters, digits, '_', '.' "
                                  "and '-'",
                                  quote(name)));
      continue;
    }
    job_queue_config q;
    q.name = name;
    q.line = static_cast<int>(queue_table->source().begin.line);
    table_reader r{*queue_table, group.key(name), path, errors};
    r.check_keys({"method", "concurrency", "max_attempts", "timeout", "backoff_base",
                  "backoff_unit", "backoff_max", "backoff_jitter"});
    std::string method;
    constexpr std::string_view method_expectation =
      "the service method that runs the queue's jobs, \"SERVICE.METHOD\"";
    if (const auto* node = r.string("method", true, method_expectation, method)) {
      const auto dot = method.rfind('.');
      if (dot == std::string::npos || dot == 0 || dot + 1 == method.size()) {
        r.add_error(node->source(), r.key("method"),
                    fmt::format("expected {}, got {}", method_expectation, quote(method)));
      } else {
        q.service = method.substr(0, dot);
        q.method = method.substr(dot + 1);
      }
    }
    r.integer("concurrency", 1, 1000, q.concurrency);
    r.integer("max_attempts", 1, 1000, q.max_attempts);
    r.duration("timeout", false, q.timeout);
    r.duration("backoff_base", true, q.backoff.base);
    r.duration("backoff_unit", true, q.backoff.unit);
    r.duration("backoff_max", false, q.backoff.max);
    r.fraction("backoff_jitter", q.backoff.jitter);
    out.push_back(std::move(q));
  }
  // toml++ walks a table's keys in their order, not the file's: give the queues in file order.
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.line < b.line; });
  return out;
}

} // namespace microlith::detail
