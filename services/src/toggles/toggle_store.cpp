#include "toggles/toggle_store.hpp"

#include "microlith/actors/error.hpp"

#include <google/protobuf/util/json_util.h>
#include <sqlite3.h>

#include <fmt/format.h>

#include <chrono>
#include <string_view>
#include <thread>
#include <utility>

namespace microlith::detail {

namespace {

namespace pb = microlith::toggles::v1;

using statement = std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)>;

constexpr const char* create_schema = R"sql(
CREATE TABLE IF NOT EXISTS toggle_values (
  name TEXT PRIMARY KEY,
  gates TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS toggle_groups (
  name TEXT PRIMARY KEY,
  members TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS toggle_history (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  who TEXT NOT NULL,
  name TEXT NOT NULL,
  old_value TEXT NOT NULL,
  new_value TEXT NOT NULL
);
)sql";

int bind_text(sqlite3_stmt* s, int index, const std::string& text) {
  return sqlite3_bind_text64(s, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
}

std::string text_of(sqlite3_stmt* s, int column) {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, column));
  if (p == nullptr)
    return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s, column)));
}

std::string json_of(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

} // namespace

struct toggle_store::impl {
  std::string file;
  sqlite3* db = nullptr;

  ~impl() { sqlite3_close(db); }

  caf::error sqlite_error(std::string_view what) const {
    return make_error(errc::internal,
                      fmt::format("toggle database {}: {}: {}", file, what,
                                  db != nullptr ? sqlite3_errmsg(db) : "no memory"));
  }

  caf::error exec(const char* sql) const {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK)
      return sqlite_error(fmt::format("cannot run {:?}", std::string_view{sql}.substr(0, 40)));
    return {};
  }

  statement prepare(const char* sql, caf::error& err) const {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) {
      sqlite3_finalize(raw);
      raw = nullptr;
      err = sqlite_error("cannot prepare a statement");
    }
    return statement{raw, &sqlite3_finalize};
  }

  caf::error open() {
    if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr)
        != SQLITE_OK)
      return sqlite_error("cannot open it");
    sqlite3_busy_timeout(db, 5000);
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int rc = SQLITE_OK;
    while ((rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", nullptr, nullptr, nullptr))
             == SQLITE_BUSY
           && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (rc != SQLITE_OK)
      return sqlite_error("cannot run \"PRAGMA journal_mode=WAL\"");
    if (auto err = exec("PRAGMA synchronous=FULL"))
      return err;
    if (auto err = exec(create_schema))
      return err;
    // An empty write proves the file writable now, not at the first change.
    return exec("BEGIN IMMEDIATE; COMMIT;");
  }

  caf::error record(const toggle_change& change) {
    caf::error err;
    auto s = prepare("INSERT INTO toggle_history (at, who, name, old_value, new_value) "
                     "VALUES (?1, ?2, ?3, ?4, ?5)",
                     err);
    if (!s)
      return err;
    sqlite3_bind_int64(s.get(), 1, unix_now());
    bind_text(s.get(), 2, change.who);
    bind_text(s.get(), 3, change.name);
    bind_text(s.get(), 4, change.old_value);
    bind_text(s.get(), 5, change.new_value);
    if (sqlite3_step(s.get()) != SQLITE_DONE)
      return sqlite_error("cannot record the change");
    return {};
  }

  // Runs `body` in a transaction: committed when it answers no error, else rolled back.
  template <class Body>
  caf::error transaction(Body body) {
    if (auto err = exec("BEGIN IMMEDIATE"))
      return err;
    if (auto err = body()) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return err;
    }
    return exec("COMMIT");
  }
};

toggle_store::toggle_store(std::unique_ptr<impl> d) : impl_(std::move(d)) {}
toggle_store::toggle_store(toggle_store&&) noexcept = default;
toggle_store& toggle_store::operator=(toggle_store&&) noexcept = default;
toggle_store::~toggle_store() = default;

caf::expected<toggle_store> toggle_store::open(const std::string& file) {
  auto d = std::make_unique<impl>();
  d->file = file;
  if (auto err = d->open())
    return err;
  return toggle_store{std::move(d)};
}

const std::string& toggle_store::file() const noexcept {
  return impl_->file;
}

caf::expected<std::map<std::string, pb::Gates>> toggle_store::values() const {
  caf::error err;
  auto s = impl_->prepare("SELECT name, gates FROM toggle_values", err);
  if (!s)
    return err;
  std::map<std::string, pb::Gates> out;
  int rc = 0;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    auto name = text_of(s.get(), 0);
    pb::Gates gates;
    auto parsed = google::protobuf::util::JsonStringToMessage(text_of(s.get(), 1), &gates);
    if (!parsed.ok())
      return make_error(errc::data_loss,
                        fmt::format("toggle database {}: the saved value of {} cannot be read: {}",
                                    impl_->file, name, parsed.ToString()));
    out.emplace(std::move(name), std::move(gates));
  }
  if (rc != SQLITE_DONE)
    return impl_->sqlite_error("cannot read the saved values");
  return out;
}

caf::expected<std::map<std::string, std::vector<std::string>>> toggle_store::groups() const {
  caf::error err;
  auto s = impl_->prepare("SELECT name, members FROM toggle_groups", err);
  if (!s)
    return err;
  std::map<std::string, std::vector<std::string>> out;
  int rc = 0;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    auto name = text_of(s.get(), 0);
    pb::Members members;
    auto parsed = google::protobuf::util::JsonStringToMessage(text_of(s.get(), 1), &members);
    if (!parsed.ok())
      return make_error(errc::data_loss,
                        fmt::format("toggle database {}: the members of group {} cannot be read: "
                                    "{}",
                                    impl_->file, name, parsed.ToString()));
    out.emplace(std::move(name),
                std::vector<std::string>(members.keys().begin(), members.keys().end()));
  }
  if (rc != SQLITE_DONE)
    return impl_->sqlite_error("cannot read the saved groups");
  return out;
}

caf::error toggle_store::save_value(const pb::Gates& gates, const toggle_change& change) {
  auto& d = *impl_;
  return d.transaction([&]() -> caf::error {
    caf::error err;
    auto s = d.prepare("INSERT INTO toggle_values (name, gates) VALUES (?1, ?2) "
                       "ON CONFLICT(name) DO UPDATE SET gates = excluded.gates",
                       err);
    if (!s)
      return err;
    bind_text(s.get(), 1, change.name);
    bind_text(s.get(), 2, json_of(gates));
    if (sqlite3_step(s.get()) != SQLITE_DONE)
      return d.sqlite_error("cannot save the value of " + change.name);
    return d.record(change);
  });
}

caf::error toggle_store::save_group(const std::string& group, const std::vector<std::string>& keys,
                                    const toggle_change& change) {
  auto& d = *impl_;
  return d.transaction([&]() -> caf::error {
    caf::error err;
    auto s = keys.empty() ? d.prepare("DELETE FROM toggle_groups WHERE name = ?1", err)
                          : d.prepare("INSERT INTO toggle_groups (name, members) VALUES (?1, ?2) "
                                      "ON CONFLICT(name) DO UPDATE SET members = excluded.members",
                                      err);
    if (!s)
      return err;
    bind_text(s.get(), 1, group);
    if (!keys.empty()) {
      pb::Members members;
      for (const auto& k : keys)
        members.add_keys(k);
      bind_text(s.get(), 2, json_of(members));
    }
    if (sqlite3_step(s.get()) != SQLITE_DONE)
      return d.sqlite_error("cannot save group " + group);
    return d.record(change);
  });
}

caf::expected<std::vector<pb::Change>> toggle_store::history(const std::string& name,
                                                             std::uint32_t limit) const {
  caf::error err;
  auto s = name.empty() ? impl_->prepare("SELECT id, at, who, name, old_value, new_value FROM "
                                         "toggle_history ORDER BY id DESC LIMIT ?1",
                                         err)
                        : impl_->prepare("SELECT id, at, who, name, old_value, new_value FROM "
                                         "toggle_history WHERE name = ?2 ORDER BY id DESC LIMIT ?1",
                                         err);
  if (!s)
    return err;
  sqlite3_bind_int64(s.get(), 1, limit);
  if (!name.empty())
    bind_text(s.get(), 2, name);
  std::vector<pb::Change> out;
  int rc = 0;
  while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
    pb::Change c;
    c.set_id(sqlite3_column_int64(s.get(), 0));
    c.set_at(sqlite3_column_int64(s.get(), 1));
    c.set_who(text_of(s.get(), 2));
    c.set_name(text_of(s.get(), 3));
    c.set_old_value(text_of(s.get(), 4));
    c.set_new_value(text_of(s.get(), 5));
    out.push_back(std::move(c));
  }
  if (rc != SQLITE_DONE)
    return impl_->sqlite_error("cannot read the history");
  return out;
}

} // namespace microlith::detail
