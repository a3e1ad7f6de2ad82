// Reading xapi's state.db into a Database (xapi-data-model.md 1.2-1.6).
//
// The document is parsed in place with pugixml (one copy of the text, no
// per-attribute allocation by the parser), walked once to check its shape and
// read the manifest, then once more to load the rows. Every error is one
// Error(kInvalidArgument) saying where: the byte offset in the (uncompressed)
// text and, inside a row, the table, ref and column. Nothing is returned or
// changed on error.
#include <charconv>
#include <unordered_map>
#include <unordered_set>

#include <pugixml.hpp>

#include "schema/sexpr.h"
#include "statedb/atomic_file.h"
#include "statedb/gzip.h"
#include "statedb/xml_spaces.h"
#include "xgdb/error.h"
#include "xgdb/statedb.h"

namespace xgdb {

namespace {

constexpr size_t kProgressEvery = 4096;

[[noreturn]] void Invalid(const std::string& message) {
  throw Error(ErrorKind::kInvalidArgument, "state.db: " + message);
}

bool ParseInt64(std::string_view text, int64_t* out) {
  if (text.empty()) return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

class Reader {
 public:
  Reader(std::string text, std::shared_ptr<const Schema> schema, const ProgressFn& progress)
      : text_(std::move(text)), schema_(std::move(schema)), progress_(progress) {}

  std::unique_ptr<Database> Run(StateDbManifest* manifest_out) {
    Parse();
    CheckShape();
    ChooseSchema();
    auto db = std::make_unique<Database>(schema_);
    for (pugi::xml_node table : tables_) LoadTable(table, db.get());
    try {
      db->FinishLoad();
    } catch (const Error& e) {
      Invalid(e.what());
    }
    if (progress_) progress_(rows_done_, rows_total_);
    if (manifest_out != nullptr) *manifest_out = manifest_;
    return db;
  }

 private:
  size_t Offset(const char* p) const {
    if (p < text_.data() || p > text_.data() + text_.size()) return 0;
    return static_cast<size_t>(p - text_.data());
  }
  std::string At(pugi::xml_node node) const {
    // In-place parsing leaves the name pointing into the text, just past '<'.
    size_t off = Offset(node.name());
    return "byte " + std::to_string(off > 0 ? off - 1 : 0);
  }

  void Parse() {
    unsigned flags = pugi::parse_default & ~pugi::parse_wnorm_attribute;
    pugi::xml_parse_result r = doc_.load_buffer_inplace(text_.data(), text_.size(), flags,
                                                        pugi::encoding_utf8);
    if (!r) {
      Invalid("not well-formed XML at byte " + std::to_string(r.offset) +
              (static_cast<size_t>(r.offset) >= text_.size() ? " (end of input: truncated?)" : "") +
              ": " + r.description());
    }
  }

  // Checks that only database/manifest/table/row/pair elements appear, where
  // xapi expects them, and collects the manifest and the tables.
  void CheckShape() {
    pugi::xml_node database;
    for (pugi::xml_node n : doc_.children()) {
      if (n.type() != pugi::node_element) continue;
      if (std::string_view(n.name()) != "database" || database) {
        Invalid(At(n) + ": unexpected element <" + n.name() + "> (expected one <database>)");
      }
      database = n;
    }
    if (!database) Invalid("no <database> element");
    for (pugi::xml_node n : database.children()) {
      if (n.type() != pugi::node_element) continue;
      std::string_view name = n.name();
      if (name == "manifest") {
        for (pugi::xml_node p : n.children()) {
          if (p.type() != pugi::node_element) continue;
          if (std::string_view(p.name()) != "pair") {
            Invalid(At(p) + ": unexpected element <" + p.name() + "> in <manifest>");
          }
          ReadPair(p);
        }
      } else if (name == "pair") {
        ReadPair(n);
      } else if (name == "table") {
        CheckTable(n);
        tables_.push_back(n);
      } else {
        Invalid(At(n) + ": unexpected element <" + n.name() + "> in <database>");
      }
    }
    static const char* const kKeys[] = {"schema_major_vsn", "schema_minor_vsn",
                                        "generation_count"};
    for (const char* key : kKeys) {
      if (!pairs_.count(key)) Invalid(std::string("manifest has no ") + key);
    }
    int64_t major = 0, minor = 0, generation = 0;
    if (!ParseInt64(pairs_["schema_major_vsn"], &major) ||
        !ParseInt64(pairs_["schema_minor_vsn"], &minor) ||
        !ParseInt64(pairs_["generation_count"], &generation)) {
      Invalid("manifest has a non-numeric version or generation_count");
    }
    manifest_.schema_major = static_cast<int>(major);
    manifest_.schema_minor = static_cast<int>(minor);
    manifest_.generation_count = generation;
  }

  void ReadPair(pugi::xml_node p) {
    // xapi matches the attribute list exactly: key first, then value.
    pugi::xml_attribute key = p.first_attribute();
    pugi::xml_attribute value = key.next_attribute();
    if (!key || !value || value.next_attribute() || std::string_view(key.name()) != "key" ||
        std::string_view(value.name()) != "value") {
      Invalid(At(p) + ": <pair> must have exactly the attributes key and value, in that order");
    }
    if (p.first_child()) Invalid(At(p) + ": <pair> must be empty");
    pairs_[key.value()] = value.value();
  }

  void CheckTable(pugi::xml_node t) {
    pugi::xml_attribute name = t.first_attribute();
    if (!name || name.next_attribute() || std::string_view(name.name()) != "name") {
      Invalid(At(t) + ": <table> must have exactly one attribute, name");
    }
    for (pugi::xml_node r : t.children()) {
      if (r.type() != pugi::node_element) continue;
      if (std::string_view(r.name()) != "row") {
        Invalid(At(r) + ": unexpected element <" + r.name() + "> in table " + name.value());
      }
      if (r.first_child()) {
        Invalid(At(r) + ": <row> in table " + std::string(name.value()) + " must be empty");
      }
      ++rows_total_;
    }
  }

  void ChooseSchema() {
    if (schema_) return;
    schema_ = Schema::Builtin(manifest_.schema_major, manifest_.schema_minor);
    if (schema_) return;
    std::string shipped;
    for (const std::string& v : Schema::BuiltinVersions()) {
      shipped += (shipped.empty() ? "" : ", ") + v;
    }
    Invalid("schema version " + std::to_string(manifest_.schema_major) + "." +
            std::to_string(manifest_.schema_minor) +
            " has no shipped schema (shipped: " + shipped + "); give a schema file");
  }

  void LoadTable(pugi::xml_node node, Database* db) {
    const char* name = node.first_attribute().value();
    const Table* table = schema_->FindTable(name);
    if (table == nullptr) {
      Invalid(At(node) + ": unknown table " + name + " (not in schema " +
              std::to_string(schema_->major_version()) + "." +
              std::to_string(schema_->minor_version()) + ")");
    }
    std::vector<char> seen(table->columns.size());
    const Column* uuid_column = table->FindColumn("uuid");
    for (pugi::xml_node r : node.children()) {
      if (r.type() != pugi::node_element) continue;
      LoadRow(r, *table, uuid_column, &seen, db);
      if (++rows_done_ % kProgressEvery == 0 && progress_) progress_(rows_done_, rows_total_);
    }
  }

  void LoadRow(pugi::xml_node r, const Table& table, const Column* uuid_column, std::vector<char>* seen, Database* db) {
    std::fill(seen->begin(), seen->end(), 0);
    const char* ref = nullptr;
    for (pugi::xml_attribute a : r.attributes()) {
      if (std::string_view(a.name()) == "ref") {
        ref = a.value();  // xapi takes the first
        break;
      }
    }
    if (ref == nullptr) Invalid(At(r) + ": a row of table " + table.name + " has no ref");
    auto where = [&](std::string_view column) {
      std::string s = At(r) + ", table " + table.name + ", row " + ref;
      if (!column.empty()) s += ", column ";
      s += column;
      return s;
    };

    FieldList fields;
    fields.reserve(table.columns.size());
    bool ref_seen = false;
    for (pugi::xml_attribute a : r.attributes()) {
      std::string_view name = a.name();
      if (name == "ref") {
        if (ref_seen) continue;
        ref_seen = true;
        continue;
      }
      if (name == "__ctime" || name == "__mtime") {
        // The image keeps no row stamps (the writer stamps every row with the
        // generation, as xapi's load does); only check they are numbers.
        int64_t stamp = 0;
        if (!ParseInt64(a.value(), &stamp)) {
          Invalid(where("") + ": " + std::string(name) + " is not a number: '" + a.value() + "'");
        }
        continue;
      }
      const Column* column = table.FindColumn(name);
      if (column == nullptr) Invalid(where(name) + ": unknown column");
      if ((*seen)[column->index]) Invalid(where(name) + ": column given twice");
      (*seen)[column->index] = 1;
      if (column->removed) continue;  // xapi skips it; the default returns
      std::string value = statedb::Unprotect(a.value());
      if (column->type != ColumnType::kString) {
        try {
          value = sexpr::Canonical(value, column->type == ColumnType::kMap);
        } catch (const Error& e) {
          Invalid(where(name) + ": bad " +
                  (column->type == ColumnType::kMap ? "map" : "set") + " value: " + e.what());
        }
      }
      if (column == uuid_column && !value.empty()) {
        auto [it, fresh] = uuids_.emplace(value, table.name + " row " + ref);
        if (!fresh) Invalid(where(name) + ": duplicate uuid " + value + " (also in table " + it->second + ")");
      }
      fields.emplace_back(column->name, std::move(value));
    }
    // xapi's upgrade step fills a missing column from its default and fails
    // the load when there is none (xapi-data-model.md 1.6 step 2).
    for (const Column& c : table.columns) {
      if (((*seen)[c.index] && !c.removed) || c.default_value) continue;
      Invalid(where(c.name) + ": missing, and the column has no default");
    }
    try {
      db->LoadRow(table.name, ref, std::move(fields));
    } catch (const Error& e) {
      Invalid(where("") + ": " + e.what());
    }
  }

  std::string text_;
  std::shared_ptr<const Schema> schema_;
  const ProgressFn& progress_;
  pugi::xml_document doc_;
  std::unordered_map<std::string, std::string> pairs_;
  std::vector<pugi::xml_node> tables_;
  StateDbManifest manifest_;
  std::unordered_map<std::string, std::string> uuids_;
  size_t rows_total_ = 0;
  size_t rows_done_ = 0;
};

}  // namespace

std::unique_ptr<Database> ParseStateDb(const std::string& data,
                                       std::shared_ptr<const Schema> schema,
                                       StateDbManifest* manifest, const ProgressFn& progress) {
  std::string text = statedb::IsGzip(data) ? statedb::Gunzip(data) : data;
  Reader reader(std::move(text), std::move(schema), progress);
  return reader.Run(manifest);
}

std::unique_ptr<Database> ReadStateDbFile(const std::string& path,
                                          std::shared_ptr<const Schema> schema,
                                          StateDbManifest* manifest, const ProgressFn& progress) {
  std::string data = statedb::ReadWholeFile(path);
  try {
    return ParseStateDb(data, std::move(schema), manifest, progress);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kInvalidArgument) throw;
    throw Error(ErrorKind::kInvalidArgument, path + ": " + e.what());
  }
}

}  // namespace xgdb
