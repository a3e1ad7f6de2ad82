// xgdb::Error helpers: the in-band test and the short kind names.
#include "xgdb/error.h"

namespace xgdb {

Error Error::NotFound(const std::string& what, const std::string& a,
                      const std::string& b) {
  return Error(ErrorKind::kNotFound, what + " (" + a + ", " + b + ")", {what, a, b});
}

bool Error::in_band() const {
  switch (kind_) {
    case ErrorKind::kNotFound:
    case ErrorKind::kDuplicateKey:
    case ErrorKind::kUniqueness:
    case ErrorKind::kReadMissingUuid:
    case ErrorKind::kTooManyValues:
      return true;
    default:
      return false;
  }
}

const char* Error::KindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kNotFound: return "not found";
    case ErrorKind::kDuplicateKey: return "duplicate key";
    case ErrorKind::kUniqueness: return "uniqueness violation";
    case ErrorKind::kReadMissingUuid: return "missing uuid";
    case ErrorKind::kTooManyValues: return "too many values";
    case ErrorKind::kIntegrityViolation: return "integrity violation";
    case ErrorKind::kInvalidValue: return "invalid value";
    case ErrorKind::kEmptyKeyInMap: return "empty key in map";
    case ErrorKind::kParse: return "parse error";
    case ErrorKind::kBadRequest: return "bad request";
    case ErrorKind::kConflict: return "conflict";
    case ErrorKind::kOwnership: return "ownership";
    case ErrorKind::kCorrupt: return "corrupt store";
    case ErrorKind::kIo: return "i/o error";
    case ErrorKind::kInvalidArgument: return "invalid argument";
    case ErrorKind::kBusy: return "busy";
    case ErrorKind::kFenced: return "fenced";
  }
  return "unknown";
}

}  // namespace xgdb
