// The libpq functions the PostgreSQL store calls, defined here and forwarded to libpq.so.5,
// which is loaded (dlopen) the first time a PostgreSQL store opens. The module does not link
// libpq: loading it and the libraries it needs (Kerberos, LDAP, GnuTLS, SASL, ...) costs a
// process some 2.5 ms, which every `prompt` command on the SQLite store would otherwise pay.
//
// Each definition has libpq-fe.h's own signature, so the compiler checks it; a function
// missing from the loaded library fails loadLibpq() with its name, never a call.
#include "store/postgres/libpq_loader.hpp"

#include <dlfcn.h>
#include <libpq-fe.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "store/store_error.hpp"

// Every libpq function the store uses; each must have a forwarding definition below.
// clang-format off
#define API_LIBPQ_FUNCTIONS(X) \
  X(PQclear) \
  X(PQcmdTuples) \
  X(PQconnectPoll) \
  X(PQconnectStart) \
  X(PQconninfoFree) \
  X(PQconninfoParse) \
  X(PQconsumeInput) \
  X(PQenterPipelineMode) \
  X(PQerrorMessage) \
  X(PQexitPipelineMode) \
  X(PQfinish) \
  X(PQflush) \
  X(PQfname) \
  X(PQfreemem) \
  X(PQgetResult) \
  X(PQgetisnull) \
  X(PQgetlength) \
  X(PQgetvalue) \
  X(PQisBusy) \
  X(PQnotifies) \
  X(PQntuples) \
  X(PQpipelineSync) \
  X(PQputCopyData) \
  X(PQputCopyEnd) \
  X(PQresultErrorField) \
  X(PQresultErrorMessage) \
  X(PQresultStatus) \
  X(PQsendPrepare) \
  X(PQsendQuery) \
  X(PQsendQueryPrepared) \
  X(PQsetNoticeProcessor) \
  X(PQsetnonblocking) \
  X(PQsocket) \
  X(PQstatus) \
  X(PQtransactionStatus)
// clang-format on

namespace {

struct Libpq {
#define API_LIBPQ_FIELD(name) decltype(&::name) name = nullptr;
  API_LIBPQ_FUNCTIONS(API_LIBPQ_FIELD)
#undef API_LIBPQ_FIELD
};

Libpq loaded_table;
std::once_flag loaded;
std::string failure;  // why libpq could not be loaded; empty once it was

void load() {
  constexpr const char* kLibrary = "libpq.so.5";
  void* handle = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* reason = ::dlerror();
    failure = std::string("cannot load ") + kLibrary +
              " (PostgreSQL's client library, Debian "
              "package libpq5), which databaseUrl needs: " +
              (reason != nullptr ? reason : "");
    return;
  }
#define API_LIBPQ_RESOLVE(name)                                                              \
  loaded_table.name = reinterpret_cast<decltype(loaded_table.name)>(::dlsym(handle, #name)); \
  if (loaded_table.name == nullptr) {                                                        \
    failure = std::string(kLibrary) + " has no " #name " (libpq 14 or newer needed)";        \
    return;                                                                                  \
  }
  API_LIBPQ_FUNCTIONS(API_LIBPQ_RESOLVE)
#undef API_LIBPQ_RESOLVE
}

// The table, loaded on first use. The module calls loadLibpq() before any of these (and reports
// a failure as a StoreError); a program that calls libpq itself (a test) may come here first.
const Libpq& table() {
  std::call_once(loaded, load);
  if (!failure.empty()) {
    std::fprintf(stderr, "%s\n", failure.c_str());
    std::abort();
  }
  return loaded_table;
}

}  // namespace

namespace api {

void loadLibpq() {
  std::call_once(loaded, load);
  if (!failure.empty()) {
    throw StoreError(failure);
  }
}

}  // namespace api

// The forwarding definitions.
extern "C" {

void PQclear(PGresult* res) {
  table().PQclear(res);
}
char* PQcmdTuples(PGresult* res) {
  return table().PQcmdTuples(res);
}
PostgresPollingStatusType PQconnectPoll(PGconn* conn) {
  return table().PQconnectPoll(conn);
}
PGconn* PQconnectStart(const char* conninfo) {
  return table().PQconnectStart(conninfo);
}
void PQconninfoFree(PQconninfoOption* options) {
  table().PQconninfoFree(options);
}
PQconninfoOption* PQconninfoParse(const char* conninfo, char** errmsg) {
  return table().PQconninfoParse(conninfo, errmsg);
}
int PQconsumeInput(PGconn* conn) {
  return table().PQconsumeInput(conn);
}
int PQenterPipelineMode(PGconn* conn) {
  return table().PQenterPipelineMode(conn);
}
char* PQerrorMessage(const PGconn* conn) {
  return table().PQerrorMessage(conn);
}
int PQexitPipelineMode(PGconn* conn) {
  return table().PQexitPipelineMode(conn);
}
void PQfinish(PGconn* conn) {
  table().PQfinish(conn);
}
int PQflush(PGconn* conn) {
  return table().PQflush(conn);
}
char* PQfname(const PGresult* res, int field_num) {
  return table().PQfname(res, field_num);
}
void PQfreemem(void* ptr) {
  table().PQfreemem(ptr);
}
PGresult* PQgetResult(PGconn* conn) {
  return table().PQgetResult(conn);
}
int PQgetisnull(const PGresult* res, int tup_num, int field_num) {
  return table().PQgetisnull(res, tup_num, field_num);
}
int PQgetlength(const PGresult* res, int tup_num, int field_num) {
  return table().PQgetlength(res, tup_num, field_num);
}
char* PQgetvalue(const PGresult* res, int tup_num, int field_num) {
  return table().PQgetvalue(res, tup_num, field_num);
}
int PQisBusy(PGconn* conn) {
  return table().PQisBusy(conn);
}
PGnotify* PQnotifies(PGconn* conn) {
  return table().PQnotifies(conn);
}
int PQntuples(const PGresult* res) {
  return table().PQntuples(res);
}
int PQpipelineSync(PGconn* conn) {
  return table().PQpipelineSync(conn);
}
int PQputCopyData(PGconn* conn, const char* buffer, int nbytes) {
  return table().PQputCopyData(conn, buffer, nbytes);
}
int PQputCopyEnd(PGconn* conn, const char* errormsg) {
  return table().PQputCopyEnd(conn, errormsg);
}
char* PQresultErrorField(const PGresult* res, int fieldcode) {
  return table().PQresultErrorField(res, fieldcode);
}
char* PQresultErrorMessage(const PGresult* res) {
  return table().PQresultErrorMessage(res);
}
ExecStatusType PQresultStatus(const PGresult* res) {
  return table().PQresultStatus(res);
}
int PQsendPrepare(PGconn* conn, const char* stmtName, const char* query, int nParams,
                  const Oid* paramTypes) {
  return table().PQsendPrepare(conn, stmtName, query, nParams, paramTypes);
}
int PQsendQuery(PGconn* conn, const char* query) {
  return table().PQsendQuery(conn, query);
}
int PQsendQueryPrepared(PGconn* conn, const char* stmtName, int nParams,
                        const char* const* paramValues, const int* paramLengths,
                        const int* paramFormats, int resultFormat) {
  return table().PQsendQueryPrepared(conn, stmtName, nParams, paramValues, paramLengths,
                                     paramFormats, resultFormat);
}
PQnoticeProcessor PQsetNoticeProcessor(PGconn* conn, PQnoticeProcessor proc, void* arg) {
  return table().PQsetNoticeProcessor(conn, proc, arg);
}
int PQsetnonblocking(PGconn* conn, int arg) {
  return table().PQsetnonblocking(conn, arg);
}
int PQsocket(const PGconn* conn) {
  return table().PQsocket(conn);
}
ConnStatusType PQstatus(const PGconn* conn) {
  return table().PQstatus(conn);
}
PGTransactionStatusType PQtransactionStatus(const PGconn* conn) {
  return table().PQtransactionStatus(conn);
}

}  // extern "C"
