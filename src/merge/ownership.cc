// The ownership rules (data), their parser, row views and the check.
#include "merge/ownership.h"

#include <algorithm>
#include <functional>
#include <set>
#include <sstream>

#include "store/image_loader.h"
#include "store/layout.h"
#include "store/name_codec.h"

namespace xgdb::merge {

using namespace store;

namespace {

// docs/ownership.md holds this same table (tests/ownership_test.cc checks
// that the two agree). Tables not listed are shared.
constexpr char kBuiltinRules[] = R"RULES(
# table            rule
host               self
host_cpu           field host
host_crashdump     field host
host_patch         field host
host_metrics       named-by host.metrics
Certificate        field host
Cluster_host       field host
Feature            field host
Host_driver        field host
Driver_variant     via driver Host_driver
PBD                field host
PCI                field host
PGPU               field host
PIF                field host
PIF_metrics        named-by PIF.metrics
PUSB               field host
PVS_cache_storage  field host
Bond               via master PIF
VLAN               via tagged_PIF PIF
tunnel             via access_PIF PIF
network_sriov      via physical_PIF PIF
VM                 field resident_on
VM_metrics         named-by VM.metrics
VM_guest_metrics   named-by VM.guest_metrics
VBD                via VM VM
VIF                via VM VM
VGPU               via VM VM
VUSB               via VM VM
VTPM               via VM VM
console            via VM VM
crashdump          via VM VM
PVS_proxy          via VIF VIF
)RULES";

constexpr int kMaxChain = 8;  // rules chain at most VIF -> VM -> host today

bool IsNullRef(const std::string& ref) { return ref.empty() || ref == "OpaqueRef:NULL"; }

}  // namespace

const char* OwnershipRules::BuiltinText() { return kBuiltinRules; }

const OwnershipRules& OwnershipRules::Builtin() {
  static const OwnershipRules rules = Parse(kBuiltinRules);
  return rules;
}

OwnershipRules OwnershipRules::Parse(const std::string& text) {
  OwnershipRules out;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string s; words >> s;) w.push_back(s);
    if (w.empty()) continue;
    auto bad = [&](const std::string& why) {
      return Error(ErrorKind::kInvalidArgument,
                   "ownership rules line " + std::to_string(number) + ": " + why + ": " + line);
    };
    OwnerRule r;
    r.table = w[0];
    if (w.size() == 2 && w[1] == "self") {
      r.kind = OwnerRule::Kind::kSelf;
    } else if (w.size() == 3 && w[1] == "field") {
      r.kind = OwnerRule::Kind::kField;
      r.field = w[2];
    } else if (w.size() == 4 && w[1] == "via") {
      r.kind = OwnerRule::Kind::kVia;
      r.field = w[2];
      r.other_table = w[3];
    } else if (w.size() == 3 && w[1] == "named-by" && w[2].find('.') != std::string::npos &&
               w[2].find('.') > 0 && w[2].find('.') + 1 < w[2].size()) {
      r.kind = OwnerRule::Kind::kNamedBy;
      r.other_table = w[2].substr(0, w[2].find('.'));
      r.other_field = w[2].substr(w[2].find('.') + 1);
    } else {
      throw bad("expected self | field <col> | via <col> <table> | named-by <table>.<col>");
    }
    if (!out.rules_.emplace(r.table, r).second) throw bad("second rule for " + r.table);
  }
  // A chain of via/named-by must end: no table may lead back to itself.
  for (const auto& [table, rule] : out.rules_) {
    std::set<std::string> seen = {table};
    const OwnerRule* r = &rule;
    while (r->kind == OwnerRule::Kind::kVia || r->kind == OwnerRule::Kind::kNamedBy) {
      if (!seen.insert(r->other_table).second) {
        throw Error(ErrorKind::kInvalidArgument, "ownership rules: " + table + " leads to a cycle");
      }
      r = out.Find(r->other_table);
      if (r == nullptr) break;
    }
  }
  return out;
}

const OwnerRule* OwnershipRules::Find(const std::string& table) const {
  auto it = rules_.find(table);
  return it == rules_.end() ? nullptr : &it->second;
}

void OwnershipRules::Validate(const Schema& schema) const {
  auto stored = [&](const std::string& table, const std::string& column) {
    const Table* t = schema.FindTable(table);
    if (t == nullptr || !t->persistent) {
      throw Error(ErrorKind::kInvalidArgument,
                  "ownership rules: " + table + " is not a persistent table of schema " +
                      std::to_string(schema.major_version()) + "." +
                      std::to_string(schema.minor_version()));
    }
    if (column.empty()) return;
    const Column* c = t->FindColumn(column);
    if (c == nullptr || !t->Stored(*c) || c->type != ColumnType::kString) {
      throw Error(ErrorKind::kInvalidArgument,
                  "ownership rules: " + table + "." + column + " is not a stored reference");
    }
  };
  for (const auto& [table, r] : rules_) {
    stored(table, r.kind == OwnerRule::Kind::kField || r.kind == OwnerRule::Kind::kVia ? r.field : "");
    if (r.kind == OwnerRule::Kind::kVia) stored(r.other_table, "");
    if (r.kind == OwnerRule::Kind::kNamedBy) stored(r.other_table, r.other_field);
  }
}

// ---- Views ----

TreeRowView::TreeRowView(GitReader* reader, const git_oid& root,
                         std::shared_ptr<const Schema> schema)
    : reader_(reader), root_(root), schema_(std::move(schema)) {}

std::optional<std::string> TreeRowView::Field(const std::string& table, const std::string& ref,
                                              const std::string& column) {
  // Walk root -> xapi -> table -> fan-out -> row, one counted read per level.
  std::string path = RowDir(table, ref);
  TreePtr tree = reader_->Tree(root_);
  for (size_t start = 0; start < path.size();) {
    size_t end = std::min(path.find('/', start), path.size());
    std::string name = path.substr(start, end - start);
    start = end + 1;
    const git_tree_entry* e = git_tree_entry_byname(tree.get(), name.c_str());
    if (e == nullptr || git_tree_entry_type(e) != GIT_OBJECT_TREE) return std::nullopt;
    tree = reader_->Tree(*git_tree_entry_id(e));
  }
  const git_tree_entry* e = git_tree_entry_byname(tree.get(), EncodeName(column).c_str());
  if (e == nullptr || git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
    // Absent: the column's default (docs/format.md), "" when it has none.
    const Table* t = schema_->FindTable(table);
    const Column* c = t ? t->FindColumn(column) : nullptr;
    return c && c->default_value ? *c->default_value : "";
  }
  return reader_->Blob(*git_tree_entry_id(e));
}

std::vector<std::string> TreeRowView::RefsWhere(const std::string& table,
                                                const std::string& column,
                                                const std::string& value) {
  auto key = std::make_pair(table, column);
  auto it = index_.find(key);
  if (it == index_.end()) {
    std::multimap<std::string, std::string>& index = index_[key];
    TreePtr root = reader_->Tree(root_);
    const git_tree_entry* data = git_tree_entry_byname(root.get(), kDataDir);
    TreePtr xapi = data ? reader_->Tree(data) : nullptr;
    const git_tree_entry* te = xapi ? git_tree_entry_byname(xapi.get(), EncodeName(table).c_str()) : nullptr;
    std::string col_entry = EncodeName(column);
    // Every row below the table directory, through its fan-out levels.
    std::function<void(const git_tree*, int)> walk = [&](const git_tree* dir, int below) {
      for (size_t i = 0; dir != nullptr && i < git_tree_entrycount(dir); ++i) {
        TreePtr child = reader_->Tree(git_tree_entry_byindex(dir, i));
        if (below > 0) {
          walk(child.get(), below - 1);
          continue;
        }
        if (!child) continue;
        const git_tree_entry* ref_e = git_tree_entry_byname(child.get(), "_ref");
        const git_tree_entry* col_e = git_tree_entry_byname(child.get(), col_entry.c_str());
        if (ref_e == nullptr || col_e == nullptr) continue;
        index.emplace(reader_->Blob(*git_tree_entry_id(col_e)),
                      reader_->Blob(*git_tree_entry_id(ref_e)));
      }
    };
    TreePtr table_tree = te ? reader_->Tree(te) : nullptr;
    walk(table_tree.get(), kFanout.levels);
    it = index_.find(key);
  }
  std::vector<std::string> out;
  auto [lo, hi] = it->second.equal_range(value);
  for (auto i = lo; i != hi; ++i) out.push_back(i->second);
  return out;
}

std::optional<std::string> ImageRowView::Field(const std::string& table, const std::string& ref,
                                               const std::string& column) {
  if (db_.GetTableFromRef(ref) != table) return std::nullopt;
  return db_.ReadField(table, column, ref);
}

std::vector<std::string> ImageRowView::RefsWhere(const std::string& table,
                                                 const std::string& column,
                                                 const std::string& value) {
  return db_.ReadFieldWhere(table, "_ref", column, value);
}

// ---- Owners ----

namespace {

std::string Owner(const OwnershipRules& rules, const std::string& table, const std::string& ref,
                  const std::vector<RowView*>& views, int depth) {
  const OwnerRule* rule = rules.Find(table);
  if (rule == nullptr || depth > kMaxChain || IsNullRef(ref)) return "";
  if (rule->kind == OwnerRule::Kind::kSelf) return ref;
  if (rule->kind == OwnerRule::Kind::kNamedBy) {
    for (RowView* view : views) {
      std::vector<std::string> refs = view->RefsWhere(rule->other_table, rule->other_field, ref);
      if (!refs.empty()) return Owner(rules, rule->other_table, refs.front(), views, depth + 1);
    }
    return "";
  }
  for (RowView* view : views) {
    std::optional<std::string> value = view->Field(table, ref, rule->field);
    if (!value) continue;  // not in this version: ask the next
    if (IsNullRef(*value)) return "";
    if (rule->kind == OwnerRule::Kind::kField) return *value;
    return Owner(rules, rule->other_table, *value, views, depth + 1);
  }
  return "";
}

const char* Verb(RowChanged::Kind kind) {
  switch (kind) {
    case RowChanged::Kind::kCreated: return "create";
    case RowChanged::Kind::kDeleted: return "delete";
    case RowChanged::Kind::kModified: break;
  }
  return "change";
}

}  // namespace

std::string OwnerOf(const OwnershipRules& rules, const std::string& table,
                    const std::string& ref, const std::vector<RowView*>& views) {
  return Owner(rules, table, ref, views, 0);
}

bool OwnedChange(const OwnershipRules& rules, const std::string& table, RowChanged::Kind kind) {
  const OwnerRule* rule = rules.Find(table);
  return rule != nullptr &&
         (rule->kind != OwnerRule::Kind::kSelf || kind == RowChanged::Kind::kModified);
}

void CheckOwnership(const OwnershipRules& rules, const std::string& actor,
                    const std::vector<RowChanged>& changed, const std::vector<RowView*>& views) {
  if (actor.empty()) return;
  for (const RowChanged& row : changed) {
    if (!OwnedChange(rules, row.table, row.kind)) continue;
    std::string owner = OwnerOf(rules, row.table, row.ref, views);
    if (owner.empty() || owner == actor) continue;
    throw Error(ErrorKind::kOwnership,
                "ownership: host " + actor + " may not " + Verb(row.kind) + " " + row.table +
                    " " + row.ref + ", which is owned by host " + owner,
                {row.table, row.ref, owner, actor});
  }
}

}  // namespace xgdb::merge
