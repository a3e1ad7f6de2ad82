// `xapi-gitdb diff A B` (what differs between two revisions, in tables,
// objects and fields) and `xapi-gitdb revert REV` (undo one commit as a new
// commit on master, through the merge rules: docs/tasks.md, "Revert").
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "task/branch_apply.h"
#include "task/change_json.h"

namespace xgdb::cli {

namespace {

int RunDiff(const GlobalOptions& global, const std::string& from, const std::string& to) {
  auto store = OpenReadOnly(global);
  std::string a = store->Resolve(from), b = store->Resolve(to);
  std::vector<FieldChange> changes = store->Diff(a, b);
  if (global.json) {
    nlohmann::json out = nlohmann::json::array();
    for (const FieldChange& c : changes) out.push_back(task::ChangeJson(c));
    PrintJson({{"from", a}, {"to", b}, {"changes", out}});
    return 0;
  }
  // One header per table, one per object, one line per field.
  std::string table, object;
  size_t objects = 0;
  for (const FieldChange& c : changes) {
    if (c.table != table) {
      std::cout << (table.empty() ? "" : "\n") << c.table << "\n";
      table = c.table;
      object.clear();
    }
    if (c.kind == FieldChange::Kind::kRowAdded || c.kind == FieldChange::Kind::kRowRemoved) {
      std::cout << (c.kind == FieldChange::Kind::kRowAdded ? "  + " : "  - ") << c.ref
                << (c.kind == FieldChange::Kind::kRowAdded ? "  (new)\n" : "  (deleted)\n");
      object = c.ref;
      ++objects;
      continue;
    }
    if (c.ref != object) {
      std::cout << "  ~ " << c.ref << "\n";
      object = c.ref;
      ++objects;
    }
    std::cout << "      " << FieldChangeLine(c) << "\n";
  }
  std::cout << (changes.empty() ? "" : "\n") << objects << " object" << (objects == 1 ? "" : "s")
            << " changed between " << a.substr(0, 12) << " and " << b.substr(0, 12) << "\n";
  return 0;
}

int RunRevert(const GlobalOptions& global, const std::string& rev) {
  std::string target, commit;
  if (std::optional<RepositoryHolder> daemon = RunningDaemon(global)) {
    // One writer per repository: the daemon reverts (History_revert).
    target = OpenReadOnly(global)->Resolve(rev);
    nlohmann::json reply = CallDaemon(*daemon, "revert " + rev, "/xapi_gitdb",
                                      {"History_revert", {{"rev", target}}});
    commit = reply[1].value("commit", "");
  } else {
    auto store = OpenStore(global);
    target = store->Resolve(rev);
    commit = task::RevertCommit(*store, target);
  }
  if (global.json) {
    PrintJson({{"reverted", target}, {"commit", commit}});
  } else if (commit.empty()) {
    std::cout << "nothing to revert: the changes of " << target.substr(0, 12)
              << " are already undone\n";
  } else {
    std::cout << "reverted " << target.substr(0, 12) << " as " << commit << "\n";
  }
  return 0;
}

}  // namespace

void RegisterRewindCommands(CLI::App& app, GlobalOptions& global, CommandTable& table) {
  {
    auto args = std::make_shared<std::pair<std::string, std::string>>();
    auto* sub = app.add_subcommand(
        "diff", "Show what differs between two revisions, in tables, objects and fields");
    sub->footer("A revision is a commit id or prefix, a branch (master, tasks/ID), master~2,\n"
                "or a time (2026-11-24T10:00:00Z, @1700000000: the last master commit then).");
    sub->add_option("A", args->first, "From this revision or time")->required();
    sub->add_option("B", args->second, "To this revision or time (default master)");
    table.Add(sub, [&global, args] {
      return RunDiff(global, args->first, args->second.empty() ? "master" : args->second);
    });
  }
  {
    auto rev = std::make_shared<std::string>();
    auto* sub = app.add_subcommand(
        "revert", "Undo one commit's changes as a new commit on master (fails on conflict)");
    sub->footer("The undo is a three-way merge (base REV, ours master, theirs REV's first\n"
                "parent): a field changed again since REV is a conflict and nothing changes.\n"
                "Run it on a repository no daemon is serving.");
    sub->add_option("REV", *rev, "The commit to undo")->required();
    table.Add(sub, [&global, rev] { return RunRevert(global, *rev); });
  }
}

}  // namespace xgdb::cli
