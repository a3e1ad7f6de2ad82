#include "cli/cli_common.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <iostream>

#include <CLI/CLI.hpp>

#include "server/client.h"
#include "xgdb/error.h"

namespace xgdb::cli {

void UsageError(const std::string& message) { throw CLI::ValidationError(message); }

StoreOptions MakeStoreOptions(const GlobalOptions& global) {
  StoreOptions options;
  options.path = global.repo;
  return options;
}

void RequireRepository(const GlobalOptions& global) {
  // Store::Open reports a missing repository as kCorrupt; say plainly where
  // we looked and how to make one, since that is the usual first mistake.
  std::error_code ec;
  if (!std::filesystem::exists(global.repo, ec)) {
    throw Error(ErrorKind::kCorrupt,
                "no repository at " + global.repo +
                    " (create one with `xapi-gitdb init` or `import`, or pass --repo)");
  }
}

std::unique_ptr<Store> OpenStore(const GlobalOptions& global) {
  RequireRepository(global);
  return Store::Open(MakeStoreOptions(global));
}

std::unique_ptr<Store> OpenReadOnly(const GlobalOptions& global) {
  RequireRepository(global);
  StoreOptions options = MakeStoreOptions(global);
  options.read_only = true;
  return Store::Open(options);
}

std::optional<RepositoryHolder> RunningDaemon(const GlobalOptions& global) {
  return Store::Holder(global.repo);
}

nlohmann::json CallDaemon(const RepositoryHolder& daemon, const std::string& what,
                          const std::string& path, const nlohmann::json& call) {
  if (daemon.served_at.empty()) {
    throw Error(ErrorKind::kBusy, "cannot " + what + ": repository " + "is in use by process " +
                                      std::to_string(daemon.pid) +
                                      ", which serves no unix socket; stop it first");
  }
  server::Answer answer;
  try {
    answer = server::Connection::Unix(daemon.served_at).Call(path, call.dump(), "", false);
  } catch (const Error& e) {
    throw Error(ErrorKind::kIo, "cannot " + what + " through the daemon (pid " +
                                    std::to_string(daemon.pid) + ", " + daemon.served_at +
                                    "): " + e.what());
  }
  nlohmann::json reply = nlohmann::json::parse(answer.body, nullptr, false);
  if (answer.status != 200 || !reply.is_array() || reply.empty() || reply[0] == "Failure" ||
      reply[0] != call[0]) {
    throw Error(ErrorKind::kIo, "the daemon (pid " + std::to_string(daemon.pid) + ") refused to " +
                                    what + ": " +
                                    (answer.body.empty() ? "HTTP " + std::to_string(answer.status)
                                                         : answer.body));
  }
  return reply;
}

std::shared_ptr<const Schema> SchemaFromArgument(const std::string& arg) {
  if (arg.empty()) return nullptr;
  std::error_code ec;
  if (std::filesystem::is_regular_file(arg, ec)) return Schema::LoadFile(arg);
  int major = 0, minor = 0;
  char tail = 0;
  if (std::sscanf(arg.c_str(), "%d.%d%c", &major, &minor, &tail) == 2) {
    if (auto schema = Schema::Builtin(major, minor)) return schema;
  }
  std::string known;
  for (const auto& v : Schema::BuiltinVersions()) known += (known.empty() ? "" : ", ") + v;
  throw Error(ErrorKind::kInvalidArgument,
              "--schema " + arg + ": neither a schema file nor a shipped version (" +
                  known + ")");
}

ObjectId FindObject(const Database& db, const std::string& table, const std::string& key) {
  if (!table.empty()) {
    if (db.schema().FindTable(table) == nullptr) {
      throw Error(ErrorKind::kInvalidArgument, "no table " + table + " in the schema");
    }
    if (auto t = db.GetTableFromRef(key); t && *t == table) return {table, key};
    if (auto ref = db.DbGetByUuidOpt(table, key)) return {table, *ref};
    // A name_label is a convenience for people; only an unambiguous one.
    std::vector<std::string> named;
    try {
      named = db.DbGetByNameLabel(table, key);
    } catch (const Error&) {
      // Table without name__label.
    }
    if (named.size() == 1) return {table, named[0]};
    if (named.size() > 1) {
      throw Error(ErrorKind::kInvalidArgument,
                  std::to_string(named.size()) + " " + table + " objects are named '" +
                      key + "'; use a ref or uuid");
    }
    throw Error(ErrorKind::kNotFound, "no " + table + " with ref, uuid or name " + key);
  }
  if (auto t = db.GetTableFromRef(key)) return {*t, key};
  if (auto found = db.FindUuid(key)) return {found->first, found->second};
  throw Error(ErrorKind::kNotFound, "no object with ref or uuid " + key);
}

StoredRow FindRow(const Store& store, const std::string& rev, const std::string& table,
                  const std::string& key, const std::string& column) {
  const Table* t = table.empty() ? nullptr : store.schema()->FindTable(table);
  if (!table.empty() && t == nullptr) {
    throw Error(ErrorKind::kInvalidArgument, "no table " + table + " in the schema");
  }
  if (auto row = store.ReadRowAt(rev, key, table, column)) return *row;
  if (auto row = store.FindUuidAt(rev, key, table, column)) return *row;
  const Column* name = t ? t->FindColumn("name__label") : nullptr;
  if (name != nullptr && t->Stored(*name)) {
    // A name_label, a convenience for people: only an unambiguous one.
    std::vector<std::string> named = store.FindRefsAt(rev, table, name->name, key, 2);
    if (named.size() > 1) {
      throw Error(ErrorKind::kInvalidArgument,
                  "several " + table + " objects are named '" + key + "'; use a ref or uuid");
    }
    if (named.size() == 1) {
      if (auto row = store.ReadRowAt(rev, named[0], table, column)) return *row;
    }
  }
  throw Error(ErrorKind::kNotFound, table.empty() ? "no object with ref or uuid " + key
                                                  : "no " + table + " with ref, uuid or name " + key);
}

void PrintJson(const nlohmann::json& j) {
  // Replace invalid UTF-8 rather than abort: stored values are supposed to
  // be UTF-8, but a script should still get an answer for a damaged one.
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

std::string FormatLocalTime(int64_t seconds) {
  time_t t = static_cast<time_t>(seconds);
  struct tm tm;
  localtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z", &tm);
  return buf;
}

std::string FormatIsoTime(int64_t seconds) {
  time_t t = static_cast<time_t>(seconds);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string FirstLine(const std::string& message) {
  return message.substr(0, message.find('\n'));
}

std::string FieldChangeLine(const FieldChange& c) {
  switch (c.kind) {
    case FieldChange::Kind::kAdded: return "+ " + c.field + ": " + OneLine(c.new_value, 160);
    case FieldChange::Kind::kRemoved: return "- " + c.field + ": " + OneLine(c.old_value, 160);
    default:
      return c.field + ": " + OneLine(c.old_value, 120) + " -> " + OneLine(c.new_value, 120);
  }
}

std::string OneLine(const std::string& s, size_t width) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (width > 3 && out.size() > width) {
    out.resize(width - 3);
    // Do not cut a UTF-8 sequence in half.
    while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
    if (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0xC0) out.pop_back();
    out += "...";
  }
  return out;
}

Progress::Progress(std::string label)
    : label_(std::move(label)), active_(isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() { Finish(); }

ProgressFn Progress::Callback() {
  if (!active_) return nullptr;
  return [this](size_t done, size_t total) { Update(done, total); };
}

void Progress::Update(size_t done, size_t total) {
  if (!active_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(100) && done != total) return;
  last_ = now;
  drawn_ = true;
  if (total > 0) {
    std::fprintf(stderr, "\r\033[K%s: %zu/%zu rows (%zu%%)", label_.c_str(), done, total,
                 done * 100 / total);
  } else {
    std::fprintf(stderr, "\r\033[K%s: %zu rows", label_.c_str(), done);
  }
  std::fflush(stderr);
}

void Progress::Finish() {
  if (!drawn_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  drawn_ = false;
}

}  // namespace xgdb::cli
