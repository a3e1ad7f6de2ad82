// The pool-secret check for TCP connections (spec 1.5 rule 3): a request is
// allowed when its `pool_secret` cookie equals one of the configured
// secrets. Each secret lives in its own file (more than one while the pool
// secret is being rotated); a file is re-read when its modification time or
// size changes, so rotating needs no restart.
#ifndef XGDB_SERVER_AUTH_H_
#define XGDB_SERVER_AUTH_H_

#include <ctime>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace xgdb::server {

class SecretChecker {
 public:
  enum class Verdict {
    kAllowed,
    kMissing,  // no pool_secret cookie: 401
    kWrong,    // a pool_secret that matches no secret: 403
  };

  // Reads every file now; Error(kInvalidArgument) when one cannot be read
  // or is empty (a daemon must not start with a secret nobody can know).
  explicit SecretChecker(std::vector<std::string> files);

  // `cookie_header` is the request's cookie header value ("" when none).
  Verdict Check(std::string_view cookie_header);

  size_t secret_count() const { return files_.size(); }

  // The secret of the first file as it is now (re-read when it changed):
  // what this host presents when it calls a peer.
  std::string First();
  // Every secret as it is now, the first file's first.
  std::vector<std::string> All();

 private:
  struct SecretFile {
    std::string path;
    std::string secret;
    struct timespec mtime{};
    off_t size = -1;
  };
  void Refresh(SecretFile& file, bool must_succeed);

  std::mutex mu_;
  std::vector<SecretFile> files_;
};

}  // namespace xgdb::server

#endif  // XGDB_SERVER_AUTH_H_
