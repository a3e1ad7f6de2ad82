// History subcommands: log (commits, optionally only those touching a table,
// an object or a field) and show (one commit as tables, objects and fields).
#include <algorithm>
#include <iostream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "schema/sexpr.h"
#include "task/change_json.h"
#include "xgdb/error.h"

namespace xgdb::cli {
namespace {

nlohmann::json CommitJson(const CommitInfo& c) {
  nlohmann::json j = task::CommitJson(c);
  j["date"] = FormatIsoTime(c.time);
  return j;
}

// "TABLE[/REF[/FIELD]]", where REF may also be a uuid, or a bare ref or
// uuid: the store's path filter "table/ref/field" with the ref resolved.
std::string ResolvePathFilter(const Store& store, const std::string& filter) {
  if (filter.empty()) return filter;
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    size_t slash = filter.find('/', start);
    parts.push_back(filter.substr(start, slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (parts.size() > 3) UsageError("log filter is TABLE[/REF[/FIELD]]: " + filter);
  std::string table, ref, field;
  if (store.schema()->FindTable(parts[0]) != nullptr) {
    table = parts[0];
    if (parts.size() > 1) {
      // A deleted object is still worth a log: keep an unknown ref as given.
      ref = parts[1];
      if (!store.ReadRowAt("master", ref, table)) {
        if (auto row = store.FindUuidAt("master", parts[1], table)) ref = row->ref;
      }
    }
    if (parts.size() > 2) field = parts[2];
  } else {
    if (parts.size() > 2) UsageError("no table " + parts[0] + " in the schema");
    StoredRow row = FindRow(store, "master", "", parts[0]);
    table = row.table;
    ref = row.ref;
    if (parts.size() > 1) field = parts[1];
  }
  std::string out = table;
  if (!ref.empty()) out += "/" + ref;
  if (!field.empty()) out += "/" + field;
  return out;
}

struct LogArgs {
  std::string filter;
  size_t max_count = 0;
  std::string at;
};

int RunLog(const GlobalOptions& global, const LogArgs& args) {
  auto store = OpenReadOnly(global);
  const std::string filter = ResolvePathFilter(*store, args.filter);
  const std::string rev = store->Resolve(args.at.empty() ? "master" : args.at);
  const size_t n = args.max_count == 0 ? std::numeric_limits<size_t>::max() : args.max_count;
  std::vector<CommitInfo> commits = store->Log(rev, n, filter);
  if (global.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& c : commits) list.push_back(CommitJson(c));
    PrintJson(list);
    return 0;
  }
  for (const auto& c : commits) {
    // Who: the host, and the task when a task's branch made the commit.
    std::string task = task::TaskTrailer(c.message);
    std::cout << c.id.substr(0, 12) << "  " << FormatLocalTime(c.time) << "  "
              << c.author_name << (task.empty() ? "" : " task " + task) << "  "
              << OneLine(FirstLine(c.message), 100) << "\n";
  }
  return 0;
}

// The changes a commit made. A root commit (the initial one of init or an
// import into a new repository) is compared with nothing: every row added.
std::vector<FieldChange> ChangesOf(const Store& store, const CommitInfo& commit) {
  if (!commit.parents.empty()) return store.Diff(commit.parents[0], commit.id);
  std::vector<FieldChange> changes;
  auto db = store.LoadAt(commit.id);
  db->ForEachRow([&](const Table& table, const std::string& ref, const std::vector<std::string>&) {
    if (!table.persistent) return;
    changes.push_back({FieldChange::Kind::kRowAdded, table.name, ref, "", "", ""});
  });
  return changes;
}

std::string Quoted(const std::string& s) { return "'" + OneLine(s, 100) + "'"; }

// A changed set or map field as the elements or keys that changed (a long
// map with one new key is unreadable as "old -> new"); other fields, or a
// value that does not parse: nullopt (shown as "old -> new").
std::optional<std::vector<std::string>> DescribeModified(const Schema& schema,
                                                         const FieldChange& ch) {
  std::vector<std::string> lines;
  const Table* table = schema.FindTable(ch.table);
  const Column* column = table ? table->FindColumn(ch.field) : nullptr;
  try {
    if (column != nullptr && column->type == ColumnType::kMap) {
      std::map<std::string, std::string> before, after;
      for (auto& [k, v] : sexpr::ParseMap(ch.old_value)) before[k] = v;
      for (auto& [k, v] : sexpr::ParseMap(ch.new_value)) after[k] = v;
      for (const auto& [k, v] : before) {
        auto it = after.find(k);
        if (it == after.end()) {
          lines.push_back("- " + Quoted(k) + ": " + Quoted(v));
        } else if (it->second != v) {
          lines.push_back("~ " + Quoted(k) + ": " + Quoted(v) + " -> " + Quoted(it->second));
        }
      }
      for (const auto& [k, v] : after) {
        if (!before.count(k)) lines.push_back("+ " + Quoted(k) + ": " + Quoted(v));
      }
      if (!lines.empty()) return lines;  // else only the order changed
    }
    if (column != nullptr && column->type == ColumnType::kSet) {
      auto before = sexpr::ParseSet(ch.old_value), after = sexpr::ParseSet(ch.new_value);
      std::sort(before.begin(), before.end());
      std::sort(after.begin(), after.end());
      std::vector<std::string> gone, added;
      std::set_difference(before.begin(), before.end(), after.begin(), after.end(),
                          std::back_inserter(gone));
      std::set_difference(after.begin(), after.end(), before.begin(), before.end(),
                          std::back_inserter(added));
      for (const auto& e : gone) lines.push_back("- " + Quoted(e));
      for (const auto& e : added) lines.push_back("+ " + Quoted(e));
      if (!lines.empty()) return lines;  // else only the order changed
    }
  } catch (const Error&) {
    // Not valid S-expression text: show it as it is.
  }
  return std::nullopt;
}

int RunShow(const GlobalOptions& global, const std::string& rev_arg) {
  auto store = OpenReadOnly(global);
  CommitInfo commit = store->GetCommit(store->Resolve(rev_arg.empty() ? "master" : rev_arg));
  std::vector<FieldChange> changes = ChangesOf(*store, commit);

  if (global.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& ch : changes) {
      nlohmann::json j = {{"kind", task::ChangeKindName(ch.kind)}, {"table", ch.table}, {"ref", ch.ref}};
      if (!ch.field.empty()) j["field"] = ch.field;
      if (ch.kind == FieldChange::Kind::kModified || ch.kind == FieldChange::Kind::kRemoved) {
        j["old"] = ch.old_value;
      }
      if (ch.kind == FieldChange::Kind::kModified || ch.kind == FieldChange::Kind::kAdded) {
        j["new"] = ch.new_value;
      }
      list.push_back(std::move(j));
    }
    PrintJson({{"commit", CommitJson(commit)}, {"changes", list}});
    return 0;
  }

  std::cout << "commit " << commit.id << "\n";
  if (commit.parents.size() > 1) {
    std::cout << "Merge:";
    for (const auto& p : commit.parents) std::cout << " " << p.substr(0, 12);
    std::cout << "  (changes shown against the first parent)\n";
  }
  std::cout << "Author: " << commit.author_name << " <" << commit.author_email << ">\n"
            << "Date:   " << FormatLocalTime(commit.time) << "\n\n";
  size_t start = 0;
  std::string m = commit.message;
  while (!m.empty() && m.back() == '\n') m.pop_back();
  while (start < m.size()) {
    size_t nl = m.find('\n', start);
    if (nl == std::string::npos) nl = m.size();
    std::string line = m.substr(start, nl - start);
    std::cout << (line.empty() ? "" : "    ") << line << "\n";
    start = nl + 1;
  }

  // Group by object: one header per object, one line per field. Created
  // and deleted objects are one line each, in a run.
  std::string last_object;
  bool in_run = false;
  size_t objects = 0;
  for (const auto& ch : changes) {
    const std::string object = ch.table + " " + ch.ref;
    if (ch.kind == FieldChange::Kind::kRowAdded || ch.kind == FieldChange::Kind::kRowRemoved) {
      const bool added = ch.kind == FieldChange::Kind::kRowAdded;
      std::cout << (in_run ? "" : "\n") << (added ? "+ " : "- ") << object
                << (added ? "  (new)\n" : "  (deleted)\n");
      in_run = true;
      last_object = object;
      ++objects;
      continue;
    }
    in_run = false;
    if (object != last_object) {
      std::cout << "\n~ " << object << "  " << Store::ObjectPath(ch.table, ch.ref) << "\n";
      last_object = object;
      ++objects;
    }
    std::optional<std::vector<std::string>> lines;
    if (ch.kind == FieldChange::Kind::kModified) lines = DescribeModified(*store->schema(), ch);
    if (!lines) {
      std::cout << "    " << FieldChangeLine(ch) << "\n";
    } else {
      std::cout << "    " << ch.field << ":\n";
      for (const auto& l : *lines) std::cout << "        " << l << "\n";
    }
  }
  std::cout << "\n" << objects << " object" << (objects == 1 ? "" : "s") << " changed\n";
  return 0;
}

}  // namespace

void RegisterHistoryCommands(CLI::App& app, GlobalOptions& global, CommandTable& table) {
  {
    auto args = std::make_shared<LogArgs>();
    auto* sub = app.add_subcommand("log", "List commits, newest first, optionally only some");
    sub->footer(
        "FILTER keeps the commits touching a table, an object or a field: TABLE,\n"
        "TABLE/REF, TABLE/REF/FIELD, REF or REF/FIELD; a uuid works wherever a ref does.");
    sub->add_option("FILTER", args->filter, "TABLE[/REF[/FIELD]] or REF|UUID[/FIELD]");
    sub->add_option("-n,--max-count", args->max_count, "Show at most N commits (0: all)")
        ->type_name("N");
    sub->add_option("--at", args->at, "Start from this revision or time (default master)")
        ->type_name("REV|TIME");
    table.Add(sub, [&global, args] { return RunLog(global, *args); });
  }
  {
    auto rev = std::make_shared<std::string>();
    auto* sub = app.add_subcommand(
        "show", "Show a commit and what it changed, in tables, objects and fields");
    sub->add_option("REV", *rev, "Revision or time (default master)");
    table.Add(sub, [&global, rev] { return RunShow(global, *rev); });
  }
}

}  // namespace xgdb::cli
