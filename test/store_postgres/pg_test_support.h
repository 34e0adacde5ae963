// Helpers for the PostgreSQL store tests: a fresh database per test on the server named by
// PAYOUTD_TEST_POSTGRES_URL (an admin URL, e.g. postgresql://postgres@127.0.0.1:55432/postgres),
// dropped afterwards, and a raw libpq connection for looking underneath. The tests fail (never
// skip) when the variable is unset: a PostgreSQL backend that was never tested is not tested.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "store/postgres/connection.h"

namespace payoutd::testing {

inline std::string postgres_admin_url() {
  const char* url = std::getenv("PAYOUTD_TEST_POSTGRES_URL");
  return url != nullptr ? std::string(url) : std::string();
}

// `url` with its database replaced by `database`: a URI's path, or a key=value string's dbname
// (a later keyword wins).
inline std::string with_database(const std::string& url, const std::string& database) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url + " dbname=" + database;
  const size_t authority = scheme + 3;
  size_t path = url.find('/', authority);
  const size_t query = url.find('?', authority);
  if (path == std::string::npos || (query != std::string::npos && path > query)) {
    const size_t insert_at = query == std::string::npos ? url.size() : query;
    return url.substr(0, insert_at) + "/" + database + url.substr(insert_at);
  }
  const size_t path_end = query == std::string::npos ? url.size() : query;
  return url.substr(0, path + 1) + database + url.substr(path_end);
}

// A plain libpq connection, outside the code under test.
class RawPg {
 public:
  explicit RawPg(const std::string& url) : connection_(PQconnectdb(url.c_str())) {
    EXPECT_EQ(PQstatus(connection_), CONNECTION_OK) << PQerrorMessage(connection_);
    PQsetNoticeProcessor(connection_, [](void*, const char*) {}, nullptr);
  }
  ~RawPg() { PQfinish(connection_); }
  RawPg(const RawPg&) = delete;
  RawPg& operator=(const RawPg&) = delete;

  bool ok() const { return PQstatus(connection_) == CONNECTION_OK; }
  // Runs `sql`; the error message ("" on success).
  std::string exec(const std::string& sql) {
    PGresult* result = PQexec(connection_, sql.c_str());
    const ExecStatusType status = PQresultStatus(result);
    std::string error;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      error = PQresultErrorMessage(result);
      if (error.empty()) error = "failed";
    }
    PQclear(result);
    return error;
  }
  void must_exec(const std::string& sql) {
    std::string error = exec(sql);
    ASSERT_EQ(error, "") << sql;
  }
  // Column `index` of every row, as text ("NULL" for NULL).
  std::vector<std::string> column(const std::string& sql, int index = 0) {
    std::vector<std::string> out;
    PGresult* result = PQexec(connection_, sql.c_str());
    EXPECT_EQ(PQresultStatus(result), PGRES_TUPLES_OK) << sql << ": " << PQresultErrorMessage(result);
    for (int row = 0; row < PQntuples(result); ++row) {
      out.push_back(PQgetisnull(result, row, index) != 0 ? "NULL" : PQgetvalue(result, row, index));
    }
    PQclear(result);
    return out;
  }
  std::string value(const std::string& sql) {
    std::vector<std::string> rows = column(sql);
    return rows.empty() ? std::string("<no row>") : rows.front();
  }
  PGconn* handle() { return connection_; }

 private:
  PGconn* connection_;
};

// A database of its own, created on construction and dropped (with every session still in it)
// on destruction.
class TestDatabase {
 public:
  TestDatabase() {
    admin_url_ = postgres_admin_url();
    if (admin_url_.empty()) {
      ADD_FAILURE() << "PAYOUTD_TEST_POSTGRES_URL is not set: the PostgreSQL tests need a server "
                       "(e.g. postgresql://postgres@127.0.0.1:55432/postgres)";
      return;
    }
    std::random_device device;
    std::mt19937_64 engine((static_cast<uint64_t>(device()) << 32) ^ device());
    const char* digits = "0123456789abcdefghijklmnopqrstuvwxyz";
    name_ = "payoutd_t_";
    for (int i = 0; i < 12; ++i) name_.push_back(digits[engine() % 36]);
    admin_ = std::make_unique<RawPg>(admin_url_);
    if (!admin_->ok()) return;
    const std::string error = admin_->exec("CREATE DATABASE " + name_);
    EXPECT_EQ(error, "");
    created_ = error.empty();
    url_ = with_database(admin_url_, name_);
  }
  ~TestDatabase() {
    if (created_) {
      const std::string error = admin_->exec("DROP DATABASE " + name_ + " WITH (FORCE)");
      EXPECT_EQ(error, "") << "dropping " << name_;
    }
  }
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  bool ready() const { return created_; }
  const std::string& url() const { return url_; }
  const std::string& name() const { return name_; }
  RawPg& admin() { return *admin_; }

  std::unique_ptr<postgres::PgConnection> connect(postgres::PgConnectionOptions options = {}) {
    Result<std::unique_ptr<postgres::PgConnection>> opened =
        postgres::PgConnection::open(url_, options);
    EXPECT_TRUE(opened.is_ok()) << (opened.is_ok() ? "" : opened.status().to_string());
    if (!opened.is_ok()) return nullptr;
    return std::move(opened).value();
  }

 private:
  std::string admin_url_;
  std::string name_;
  std::string url_;
  std::unique_ptr<RawPg> admin_;
  bool created_ = false;
};

// Base fixture: a fresh database and one connection to it.
class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(database_.ready()) << "no test database";
    connection_ = database_.connect();
    ASSERT_NE(connection_, nullptr);
  }

  // Runs one statement through the code under test, failing the test on error.
  void exec(postgres::PgConnection& connection, const std::string& sql) {
    Status status = connection.execute_script(sql);
    ASSERT_TRUE(status.is_ok()) << sql << ": " << status.to_string();
  }
  void exec(const std::string& sql) { exec(*connection_, sql); }

  TestDatabase database_;
  std::unique_ptr<postgres::PgConnection> connection_;
};

}  // namespace payoutd::testing
