#include "adapters/redis/redis_url.hpp"
#include "adapters/redis/endpoint.hpp"
#include "tests/support/test_support.hpp"

using tiercache::errc;
using tiercache::redis::parse_redis_url;

TEST_CASE("a full redis URL gives host, port, user, password and db") {
  auto u = parse_redis_url("redis://app:p%ss@cache.local:6380/2");
  REQUIRE(u);
  CHECK(u->host == "cache.local");
  CHECK(u->port == 6380);
  CHECK(u->user == "app");
  CHECK(u->password == "p%ss");
  CHECK(u->db == 2);
}

TEST_CASE("a bare redis URL takes the defaults; a password may come without a user") {
  auto u = parse_redis_url("redis://127.0.0.1");
  REQUIRE(u);
  CHECK(u->port == 6379);
  CHECK(u->db == 0);
  CHECK(u->user.empty());
  auto p = parse_redis_url("redis://:secret@h:1/0");
  REQUIRE(p);
  CHECK(p->user.empty());
  CHECK(p->password == "secret");
}

TEST_CASE("bad redis URLs are refused without echoing the password") {
  for (const char* bad : {"http://h", "redis://", "redis://h:0", "redis://h:65536", "redis://h:x",
                          "redis://h/-1", "redis://h/x", "redis://nocolon@h", "redis://u:@h"}) {
    auto u = parse_redis_url(bad);
    INFO(bad);
    REQUIRE_FALSE(u);
    CHECK(u.error() == errc::invalid_argument);
    CHECK_THAT(u.error().detail, Catch::Contains("Options.redis.url"));
  }
  // Whatever the fault, and also with the scheme misspelt or unsupported.
  for (const char* bad : {"redis://u:topsecret@h:99999", "redis:/u:topsecret@h:6379",
                          "rediss://:topsecret@h", "u:topsecret@h:6379"}) {
    INFO(bad);
    auto hidden = parse_redis_url(bad);
    REQUIRE_FALSE(hidden);
    CHECK_THAT(hidden.error().detail, !Catch::Contains("topsecret"));
    CHECK_THAT(hidden.error().detail, Catch::Contains("***@"));
  }
}

TEST_CASE("a redis URL whose host was forgotten does not echo what may be its password") {
  // With no '@' nothing says where credentials end; what stands where the port should is hidden.
  for (const char* bad :
       {"redis://:topsecret", "redis://u:topsecret", "redis://:topsecret/0", "redis://:top/secret",
        "redis://:top?secret", "redis://[::1]:top/secret"}) {
    INFO(bad);
    auto hidden = parse_redis_url(bad);
    REQUIRE_FALSE(hidden);
    CHECK_THAT(hidden.error().detail, !Catch::Contains("secret"));
  }
  // A port that is a number stays, so the usual typo is still shown.
  auto shown = parse_redis_url("redis://h:65536");
  REQUIRE_FALSE(shown);
  CHECK_THAT(shown.error().detail, Catch::Contains("redis://h:65536"));
  CHECK(tiercache::redacted_url("redis://[::1]:6379/2") == "redis://[::1]:6379/2");
}

TEST_CASE("a Redis host holding a space, a control byte or '/' is refused at open") {
  for (const char* bad : {"redis://cache host:6379", "redis://cache\nhost", "redis://h\x7f:1"}) {
    INFO(bad);
    tiercache::RedisOptions r;
    r.url = bad;
    auto e = tiercache::redis::make_endpoint(r);
    REQUIRE_FALSE(e);
    CHECK(e.error() == errc::invalid_argument);
    CHECK_THAT(e.error().detail, Catch::Contains("a space, a control byte or '/'"));
  }
  tiercache::RedisOptions field;
  field.host = "cache/host";
  auto e = tiercache::redis::make_endpoint(field);
  REQUIRE_FALSE(e);
  CHECK_THAT(e.error().detail, Catch::Contains("Options.redis.host"));
  tiercache::RedisOptions seeds;
  seeds.cluster_nodes = {"127.0.0.1:7000", "bad host:7001"};
  auto cluster = tiercache::redis::make_cluster_endpoints(seeds);
  REQUIRE_FALSE(cluster);
  CHECK_THAT(cluster.error().detail, Catch::Contains("a space, a control byte or '/'"));
}

TEST_CASE("bad cluster seeds are refused without echoing the password") {
  struct Case {
    const char* seed;
    const char* password;  // Options.redis.password
    const char* refusal;
  };
  for (const Case& c : {Case{"rediss://:topsecret@127.0.0.1:7000", "", "is not host:port"},
                        Case{"redis://:topsecret@127.0.0.1:7000/3", "", "names database 3"},
                        Case{"redis://:topsecret@127.0.0.1:7000", "other", "pick one place"}}) {
    INFO(c.seed);
    tiercache::RedisOptions r;
    r.cluster_nodes = {c.seed};
    r.password = c.password;
    auto seeds = tiercache::redis::make_cluster_endpoints(r);
    REQUIRE_FALSE(seeds);
    CHECK(seeds.error() == errc::invalid_argument);
    CHECK_THAT(seeds.error().detail, Catch::Contains(c.refusal));
    CHECK_THAT(seeds.error().detail, !Catch::Contains("topsecret"));
  }
}
