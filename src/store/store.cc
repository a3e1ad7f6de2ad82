// Store: creating, opening and importing repositories, and the commit writer
// shared by all of them.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <mutex>

#include "store/image_loader.h"
#include "store/layout.h"
#include "store/store_impl.h"
#include "store/tree_writer.h"

namespace xgdb {

namespace fs = std::filesystem;
using namespace store;

namespace store {

void EnsureLibgit2() {
  static std::once_flag once;
  std::call_once(once, [] {
    git_libgit2_init();
    // Commits read the root, xapi/, table and fan-out trees; xapi/ holds a
    // few hundred tables' entries (~4 KB), at the default cache limit.
    git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, GIT_OBJECT_TREE, size_t{256} * 1024);
  });
}

}  // namespace store

namespace {

std::string MachineHostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

}  // namespace

RefAuthor Store::Impl::Author() const {
  return RefAuthor{author_name, author_email, env->NowMicros() / 1000000};
}

SignaturePtr Store::Impl::Signature() const {
  git_signature* raw = nullptr;
  Check(git_signature_new(&raw, author_name.c_str(), author_email.c_str(),
                          static_cast<git_time_t>(env->NowMicros() / 1000000), 0),
        "making the commit signature");
  return SignaturePtr(raw);
}

void Store::Impl::MoveMaster(const git_oid* old, const git_oid& target,
                             const std::string& log_message, bool own) {
  if (own && !host_ref.empty()) {
    // The host ref first: a crash between the two leaves master behind its
    // own host's head, which the next derivation of master repairs; the
    // other order could publish nothing of a commit master already shows.
    git_oid current;
    bool exists = git_reference_name_to_id(&current, repo.get(), host_ref.c_str()) == 0;
    if (!exists || !git_oid_equal(&current, &target)) {
      WriteRef(*env, options.path, host_ref, exists ? &current : nullptr, target, Author(),
               log_message, options.fsync);
    }
  }
  WriteRef(*env, options.path, kMasterRef, old, target, Author(), log_message, options.fsync);
}

void Store::Impl::EnsureHostRef() {
  // The repository remembers its host, so that a later open without the
  // uuid (the CLI's revert, import) still moves the host ref: a move of
  // master that no host ref holds would be undone by the next derivation.
  const std::string file = options.path + "/" + kHostFile;
  std::string recorded;
  {
    std::ifstream in(file);
    std::getline(in, recorded);
  }
  if (host_ref.empty()) {
    if (recorded.empty()) return;
    options.host_uuid = recorded;
    host_ref = std::string(kHostRefPrefix) + recorded;
  } else if (recorded.empty()) {
    WriteFileAtomically(*env, file, options.host_uuid + "\n", 0600, options.fsync);
  } else if (recorded != options.host_uuid) {
    throw Error(ErrorKind::kInvalidArgument, "repository " + options.path + " is host " +
                                                 recorded + "'s, not " + options.host_uuid +
                                                 "'s (" + kHostFile + ")");
  }
  git_oid current;
  if (git_reference_name_to_id(&current, repo.get(), host_ref.c_str()) == 0) return;
  bool found = false;
  git_oid head = MasterId(&found);
  if (!found) return;
  spdlog::info("{}: {} starts at master {}", options.path, host_ref, OidHex(head));
  WriteRef(*env, options.path, host_ref, nullptr, head, Author(), "host: first head",
           options.fsync);
}

void Store::Impl::NotifyHead(const std::string& head) {
  std::vector<std::function<void(const std::string&)>> fns;
  {
    std::lock_guard<std::mutex> lock(listeners_mu);
    for (const auto& [id, fn] : head_listeners) fns.push_back(fn);
  }
  for (const auto& fn : fns) fn(head);
}

std::unique_ptr<Store::Impl> Store::Impl::New(const StoreOptions& options) {
  EnsureLibgit2();
  auto impl = std::make_unique<Store::Impl>();
  impl->options = options;
  impl->env = options.env != nullptr ? options.env : Env::Default();
  impl->author_name = options.host_name.empty() ? MachineHostName() : options.host_name;
  impl->author_email =
      options.host_id.empty() ? impl->author_name + "@xapi-gitdb" : options.host_id;
  impl->host_tag = options.host_id.empty() ? impl->author_name : options.host_id;
  if (!options.host_uuid.empty()) {
    if (!IsHostUuid(options.host_uuid)) {
      throw Error(ErrorKind::kInvalidArgument,
                  "host uuid '" + options.host_uuid + "': 1-64 letters, digits and '-' only");
    }
    impl->host_ref = std::string(kHostRefPrefix) + options.host_uuid;
  }
  if (options.fsync) git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
  return impl;
}

bool IsEmptyOrMissingDir(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return true;
  return fs::is_directory(path, ec) && fs::is_empty(path, ec);
}

fs::path FirstMissingAncestor(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(path, ec).lexically_normal();
  if (ec || fs::exists(p, ec)) return {};
  if (!p.has_filename()) p = p.parent_path();  // "dir/" -> "dir"
  fs::path missing = p;
  for (fs::path up = p.parent_path(); !up.empty() && up != missing; up = up.parent_path()) {
    if (fs::exists(up, ec)) break;
    missing = up;
  }
  return missing;
}

void RemoveCreated(const std::string& path, const fs::path& created_root) {
  std::error_code ec;
  if (!created_root.empty()) {
    fs::remove_all(created_root, ec);
  } else {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      std::error_code ec2;
      fs::remove_all(entry.path(), ec2);
      if (ec2) ec = ec2;
    }
  }
  if (ec) {
    spdlog::warn("store {}: removing what a failed import created: {}", path, ec.message());
  }
}


void Store::Impl::InitRepository() {
  git_repository_init_options opts = GIT_REPOSITORY_INIT_OPTIONS_INIT;
  opts.flags = GIT_REPOSITORY_INIT_BARE | GIT_REPOSITORY_INIT_MKPATH |
               GIT_REPOSITORY_INIT_NO_REINIT;
  opts.initial_head = "master";
  git_repository* raw = nullptr;
  Check(git_repository_init_ext(&raw, options.path.c_str(), &opts),
        "creating a repository at " + options.path);
  RepoPtr created(raw);
  // Bare repositories keep no reflog by default; master's reflog is the
  // record of every commit the store made, so keep it.
  git_config* raw_config = nullptr;
  Check(git_repository_config(&raw_config, created.get()), "reading the repository config");
  GitPtr<git_config, git_config_free> config(raw_config);
  Check(git_config_set_bool(config.get(), "core.logAllRefUpdates", 1), "writing the config");
  created.reset();
  // The repository will hold secrets: the owner only, from the start.
  std::error_code ec;
  fs::permissions(options.path, fs::perms::owner_all, ec);
  for (auto it = fs::recursive_directory_iterator(options.path, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code ec2;
    fs::permissions(it->path(), fs::perms::group_all | fs::perms::others_all,
                    fs::perm_options::remove, ec2);
  }
  OpenRepository(ErrorKind::kIo);
}

void Store::Impl::OpenRepository(ErrorKind kind_on_failure) {
  git_repository* raw = nullptr;
  Check(git_repository_open_bare(&raw, options.path.c_str()),
        "no git repository at " + options.path, kind_on_failure);
  repo.reset(raw);
  sink = ObjectSink::Attach(repo.get(), *env);
  sink->set_spares(spares.get());
}

git_oid Store::Impl::MasterId(bool* found) const {
  git_oid id{};
  int rc = git_reference_name_to_id(&id, repo.get(), kMasterRef);
  *found = rc == 0;
  if (rc != 0 && rc != GIT_ENOTFOUND) Check(rc, "reading master");
  return id;
}

std::string Store::Impl::Message(const std::string& first_line,
                                 const std::vector<std::string>& summary,
                                 size_t dropped,
                                 const std::vector<std::string>& trailers) const {
  constexpr size_t kMaxLines = 200;  // a commit message is for people
  std::string msg = first_line + "\n";
  if (!summary.empty() && !(summary.size() == 1 && summary[0] == first_line)) {
    msg += "\n";
    for (size_t i = 0; i < summary.size() && i < kMaxLines; ++i) msg += summary[i] + "\n";
    size_t more = dropped + (summary.size() > kMaxLines ? summary.size() - kMaxLines : 0);
    if (more > 0) msg += "... and " + std::to_string(more) + " more\n";
  }
  msg += "\nHost: " + host_tag + "\n";
  for (const std::string& trailer : trailers) msg += trailer + "\n";
  return msg;
}

git_oid Store::Impl::WriteCommit(const git_oid& root, const std::string& message) {
  bool has_parent = false;
  git_oid parent_id = MasterId(&has_parent);
  CommitPtr parent;
  if (has_parent) {
    git_commit* raw = nullptr;
    Check(git_commit_lookup(&raw, repo.get(), &parent_id), "reading master's commit");
    parent.reset(raw);
  }
  git_tree* raw_tree = nullptr;
  Check(git_tree_lookup(&raw_tree, repo.get(), &root), "reading the new tree");
  TreePtr tree(raw_tree);
  SignaturePtr sig = Signature();
  const git_commit* parents[1] = {parent.get()};
  // The commit's bytes, added like every other object (git_commit_create
  // would go through git_odb_write: see object_sink.h).
  git_buf buf = GIT_BUF_INIT;
  Check(git_commit_create_buffer(&buf, repo.get(), sig.get(), sig.get(), nullptr,
                                 message.c_str(), tree.get(), has_parent ? 1 : 0, parents),
        "writing a commit");
  git_oid commit_id;
  try {
    commit_id = sink->Put(GIT_OBJECT_COMMIT, std::string_view(buf.ptr, buf.size));
  } catch (...) {
    git_buf_dispose(&buf);
    throw;
  }
  git_buf_dispose(&buf);
  // Pack (synced) first, then the ref: master never names a missing object.
  sink->WritePack(options.fsync);
  std::string first_line = message.substr(0, message.find('\n'));
  MoveMaster(has_parent ? &parent_id : nullptr, commit_id, "commit: " + first_line);
  return commit_id;
}

void Store::Impl::StartRepacker() {
  // Called before the Store is handed out (some callers hold git_mu).
  spares = std::make_unique<SparePool>(*env, options.path);
  sink->set_spares(spares.get());
  auto swap = [this](const std::function<void()>& fn) {
    {
      swap_waiting = true;
      std::lock_guard<std::mutex> lock(git_mu);
      swap_waiting = false;
      fn();
      ReopenAfterSwap();
    }
    { std::lock_guard<std::mutex> lock(swap_mu); }  // no lost wake-up
    swap_cv.notify_all();
  };
  repacker = std::make_unique<Repacker>(*env, options.path, options.fsync, swap);
}

void Store::Impl::ReopenAfterSwap() {
  // Our handle may have the deleted packs open or listed: start afresh.
  // (The sink is empty outside of a commit, and commits hold git_mu.)
  try {
    OpenRepository(ErrorKind::kIo);
  } catch (const Error& e) {
    spdlog::error("store {}: reopening after a repack failed: {}", options.path, e.what());
  }
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Store::~Store() {
  if (impl_->options.read_only) return;
  StopCommitter();
  try {
    impl_->CommitNow("");
  } catch (const std::exception& e) {
    spdlog::error("store {}: final commit failed, recent changes are lost: {}",
                  impl_->options.path, e.what());
  }
  impl_->repacker.reset();
}

Database& Store::db() {
  if (!impl_->db) {
    throw Error(ErrorKind::kInvalidArgument,
                "repository " + impl_->options.path + " was opened read-only: no image");
  }
  return *impl_->db;
}
const std::string& Store::path() const { return impl_->options.path; }
Env& Store::env() const { return *impl_->env; }

std::string Store::ObjectPath(const std::string& table, const std::string& ref) {
  return RowDir(table, ref) + "/";
}

std::unique_ptr<Store> Store::Create(const StoreOptions& options,
                                     std::shared_ptr<const Schema> schema) {
  if (!schema) throw Error(ErrorKind::kInvalidArgument, "Store::Create needs a schema");
  if (!IsEmptyOrMissingDir(options.path)) {
    throw Error(ErrorKind::kInvalidArgument,
                options.path + " already exists and is not empty; not creating a repository");
  }
  auto impl = Impl::New(options);
  std::lock_guard<std::mutex> lock(impl->git_mu);
  impl->InitRepository();
  impl->LockRepository();
  git_oid meta = WriteMetaTree(*impl->sink, *schema);
  git_oid root = WriteRootTree(*impl->sink, meta, nullptr);
  impl->WriteCommit(root, impl->Message("Create database (schema " +
                                            std::to_string(schema->major_version()) + "." +
                                            std::to_string(schema->minor_version()) + ")",
                                        {}, 0));
  impl->schema = schema;
  impl->db = std::make_unique<Database>(schema);
  impl->db->FinishLoad();
  impl->durable_seq = impl->db->Sequence();
  impl->AnnounceHolder();
  impl->StartRepacker();
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

std::unique_ptr<Store> Store::Open(const StoreOptions& options) {
  auto impl = Impl::New(options);
  const std::string& path = options.path;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    throw Error(ErrorKind::kCorrupt, "no repository at " + path + " (missing)");
  }
  std::lock_guard<std::mutex> lock(impl->git_mu);
  impl->OpenRepository(ErrorKind::kCorrupt);
  if (!options.read_only) {
    impl->LockRepository();
    impl->Recover();
  } else {
    // A read-only open reads each object once (a row, a scan): libgit2's
    // object cache (256 MB by default) would only cost memory and time.
    git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, ssize_t{4} << 20);
  }
  bool found = false;
  git_oid head;
  try {
    head = impl->MasterId(&found);
  } catch (const Error& e) {
    throw Error(ErrorKind::kCorrupt, "repository " + path + ": " + e.what());
  }
  if (!found) throw Error(ErrorKind::kCorrupt, "repository " + path + " has no master branch");
  git_commit* raw_commit = nullptr;
  Check(git_commit_lookup(&raw_commit, impl->repo.get(), &head),
        "repository " + path + ": master's commit " + OidHex(head) + " is unreadable",
        ErrorKind::kCorrupt);
  CommitPtr commit(raw_commit);
  git_tree* raw_tree = nullptr;
  Check(git_commit_tree(&raw_tree, commit.get()),
        "repository " + path + ": the tree of " + OidHex(head) + " is unreadable",
        ErrorKind::kCorrupt);
  TreePtr tree(raw_tree);
  Fanout fanout;  // every format is read; older ones are upgraded below
  try {
    impl->schema = ReadMeta(impl->repo.get(), tree.get(), &fanout);
    if (options.read_only) return std::unique_ptr<Store>(new Store(std::move(impl)));
    impl->db = LoadImage(impl->repo.get(), tree.get(), impl->schema);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::kCorrupt) {
      throw Error(ErrorKind::kCorrupt, "repository " + path + " at " + OidHex(head) + ": " + e.what());
    }
    throw Error(ErrorKind::kCorrupt, "repository " + path + ": " + e.what());
  }
  if (int format = ReadFormatNumber(impl->repo.get(), tree.get()); format < 3) {
    spdlog::info("{}: upgrading the repository from format {} to format 3", path, format);
    impl->UpgradeFormat(tree.get(), format);
  }
  impl->EnsureHostRef();
  impl->durable_seq = impl->db->Sequence();
  impl->AnnounceHolder();
  impl->StartRepacker();
  // Packs a crash left above the bound are combined now, not only after
  // the next commit.
  if (ListPacks(path).size() > kMaxPacks) impl->repacker->Poke();
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

void Store::Impl::UpgradeFormat(const git_tree* old_root, int from) {
  // meta/generation is carried over, so exports never step back.
  const git_tree_entry* meta = git_tree_entry_byname(old_root, "meta");
  int64_t generation = meta ? ReadGenerationBase(repo.get(), *git_tree_entry_id(meta)) : 0;
  try {
    git_oid root;
    std::string why;
    if (from == 1) {
      // The image was read in the old layout; writing it whole gives the
      // same rows in the current one.
      root = WriteImageTree(*sink, *db, nullptr, generation);
      why = "Rows move from xapi/<table>/<2 hex>/<ref>/ to xapi/<table>/<h>/<h>/<h>/<h>/<ref>/";
    } else {
      // A format 2 tree is a format 3 tree whose members are all in tree
      // order: only meta/format changes. Every host that upgrades writes
      // the same meta/, so replicas merge it without a conflict.
      const git_tree_entry* data = git_tree_entry_byname(old_root, kDataDir);
      root = WriteRootTree(*sink, WriteMetaTree(*sink, *schema, generation),
                           data ? git_tree_entry_id(data) : nullptr);
      why = "Sets and maps keep xapi's member order";
    }
    WriteCommit(root, Message("Upgrade the repository to format 3", {why + " (docs/format.md)"}, 0));
  } catch (...) {
    sink->Discard();
    throw;
  }
}

std::unique_ptr<Store> Store::Import(const StoreOptions& options, std::unique_ptr<Database> image,
                                     const std::string& message, const ProgressFn& progress,
                                     const ImportOptions& import_options) {
  if (!image) throw Error(ErrorKind::kInvalidArgument, "Store::Import needs an image");
  const int64_t generation = import_options.generation_count;
  if (generation < 0 || generation > kMaxGeneration) {
    throw Error(ErrorKind::kInvalidArgument,
                "generation count " + std::to_string(generation) + " is out of range");
  }
  // What a failed import must remove: the directories it creates, or the
  // contents it puts into an existing empty directory. An existing
  // repository is never removed (only objects of a failed commit could be
  // left in it, never a moved master).
  const bool create = IsEmptyOrMissingDir(options.path);
  const fs::path created_root = create ? FirstMissingAncestor(options.path) : fs::path();
  auto build = [&]() -> std::unique_ptr<Impl> {
    auto impl = Impl::New(options);
    std::unique_lock<std::mutex> lock(impl->git_mu);
    if (create) {
      impl->InitRepository();
      impl->LockRepository();
    } else {
      impl->OpenRepository(ErrorKind::kInvalidArgument);
      impl->LockRepository();
      impl->Recover();
      bool found = false;
      git_oid head = impl->MasterId(&found);
      if (found) {  // the new commit's parent must be readable: never build on rubble
        git_commit* raw = nullptr;
        Check(git_commit_lookup(&raw, impl->repo.get(), &head),
              "repository " + options.path + ": master's commit is unreadable",
              ErrorKind::kCorrupt);
        git_commit_free(raw);
      }
    }
    image->TakeChanges();  // everything goes into this commit
    try {
      git_oid root = WriteImageTree(*impl->sink, *image, progress, generation);
      impl->WriteCommit(root, impl->Message(message.empty() ? "Import" : message, {}, 0));
    } catch (...) {
      impl->sink->Discard();
      throw;
    }
    impl->schema = image->schema_ptr();
    impl->db = std::move(image);
    impl->durable_seq = impl->db->Sequence();
    impl->AnnounceHolder();
    lock.unlock();
    impl->StartRepacker();
    return impl;
  };
  std::unique_ptr<Impl> impl;
  try {
    impl = build();
  } catch (...) {
    // build's Impl (repository handle, repacker) is gone by now.
    if (create) RemoveCreated(options.path, created_root);
    throw;
  }
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

}  // namespace xgdb
