// The catalog demo's service (examples/catalog/) end to end: two instances on a real
// redis-server and a small SQLite database in a temp dir, over real HTTP on free loopback ports.
#include <barrier>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "examples/catalog/catalog_client.hpp"
#include "examples/catalog/catalog_fill.hpp"
#include "examples/catalog/catalog_service.hpp"
#include "examples/catalog/demo_args.hpp"
#include "examples/catalog/demo_report.hpp"
#include "examples/catalog/plots.hpp"
#include "examples/catalog/product.hpp"
#include "examples/catalog/service_metrics.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_support.hpp"

using catalog::CatalogClient;
using catalog::CatalogService;
using catalog::HttpAnswer;
using catalog::Product;
using catalog::ServiceMetrics;
using namespace std::chrono_literals;

namespace {

// Products in the test's database: enough for ids to mean something, quick to fill.
constexpr std::int64_t kProducts = 1000;
// Each request's bound; far above a request's time, even under TSan.
constexpr auto kRequestTimeout = 5s;
// A PUT through one instance must be read through the other within this: ~1 ms in a release
// build (Redis invalidation), and slack for a sanitizer's build on a busy machine.
constexpr auto kCoherenceLimit = 1000ms;

// A database, and instances of the service on it: cached (both on one Redis) or not.
class Catalog {
 public:
  explicit Catalog(bool cached, std::size_t http_threads = 4) {
    db_path_ = dir_.path() + "/catalog.db";
    const auto filled = catalog::fill_catalog(db_path_, kProducts);
    if (!filled) FAIL("fill_catalog: " << filled.error());
    if (cached) redis_ = std::make_unique<test::RedisServer>();
    for (const char* name : {"A", "B"}) {
      auto started = CatalogService::start({.name = name,
                                            .db_path = db_path_,
                                            .cached = cached,
                                            .redis_url = cached ? redis_->url() : "",
                                            .l1_max_bytes = std::size_t{1} << 20,
                                            .http_threads = http_threads});
      if (!started) FAIL(started.error());
      services_.push_back(std::move(*started));
      clients_.push_back(
          std::make_unique<CatalogClient>("127.0.0.1", services_.back()->port(), kRequestTimeout));
    }
  }

  CatalogClient& a() { return *clients_[0]; }
  CatalogService& service_a() { return *services_[0]; }
  CatalogService& service_b() { return *services_[1]; }
  CatalogClient& b() { return *clients_[1]; }
  test::RedisServer& redis() { return *redis_; }
  const std::string& db_path() const { return db_path_; }

 private:
  test::TempDir dir_;
  std::string db_path_;
  std::unique_ptr<test::RedisServer> redis_;
  // Clients close their connections before the services stop (members go in reverse order).
  std::vector<std::unique_ptr<CatalogService>> services_;
  std::vector<std::unique_ptr<CatalogClient>> clients_;
};

ServiceMetrics metrics_of(CatalogClient& client) {
  const HttpAnswer answer = client.get("/metrics");
  REQUIRE(answer.status == 200);
  const auto metrics = catalog::parse_service_metrics(answer.body);
  if (!metrics) FAIL(metrics.error());
  return *metrics;
}

Product product_of(const HttpAnswer& answer) {
  INFO(answer.status << " " << answer.body << answer.error);
  REQUIRE(answer.status == 200);
  return nlohmann::json::parse(answer.body).get<Product>();
}

std::string fields_json(const std::string& name, std::int64_t price_cents) {
  return nlohmann::json{{"name", name},
                        {"category", "kitchen"},
                        {"price_cents", price_cents},
                        {"stock", 7},
                        {"description", "A test's product."}}
      .dump();
}

// The status of `answer`, after checking that its body is a JSON error that mentions `needle`.
int error_status(const HttpAnswer& answer, const std::string& needle) {
  INFO(answer.status << " " << answer.body << answer.error);
  const nlohmann::json body = nlohmann::json::parse(answer.body, nullptr, false);
  CHECK(body.is_object());
  CHECK(body.value("error", std::string()).find(needle) != std::string::npos);
  return answer.status;
}

}  // namespace

TEST_CASE(
    "a GET misses and runs one SELECT; the next GET is an L1 hit; the other instance finds "
    "it in Redis",
    "[catalog][redis]") {
  Catalog shop(/*cached=*/true);
  const ServiceMetrics before = metrics_of(shop.a());
  CHECK(before.cached);

  const Product first = product_of(shop.a().get("/products/7"));
  CHECK(first.id == 7);
  CHECK(first.version == 1);
  CHECK(!first.name.empty());
  const ServiceMetrics after_miss = metrics_of(shop.a()).since(before);
  CHECK(after_miss.l1_misses == 1);
  CHECK(after_miss.l2_misses == 1);
  CHECK(after_miss.origin_reads == 1);
  CHECK(after_miss.l1_hits == 0);

  CHECK(product_of(shop.a().get("/products/7")) == first);
  const ServiceMetrics after_hit = metrics_of(shop.a()).since(before);
  CHECK(after_hit.l1_hits == 1);
  CHECK(after_hit.l1_misses == 1);
  CHECK(after_hit.origin_reads == 1);

  // The fill reaches Redis behind the answer (the writer is async): once it is there, B reads
  // it from Redis without asking the database.
  test::wait_until(
      5s, [&] { return shop.redis().command({"DBSIZE"}) == ":1"; }, "A's fill is in Redis");
  const ServiceMetrics b_before = metrics_of(shop.b());
  CHECK(product_of(shop.b().get("/products/7")) == first);
  const ServiceMetrics b_after = metrics_of(shop.b()).since(b_before);
  CHECK(b_after.l2_hits == 1);
  CHECK(b_after.origin_reads == 0);
}

TEST_CASE("a warm start through one instance puts every product in Redis for the other",
          "[catalog][redis]") {
  Catalog shop(/*cached=*/true);
  const auto warm = shop.service_a().warm_cache();
  REQUIRE(warm);
  CHECK(warm->products == kProducts);
  CHECK(warm->selects == 1);  // kProducts fit one range
  CHECK(shop.redis().command({"DBSIZE"}) == ":" + std::to_string(kProducts));
  const ServiceMetrics b_before = metrics_of(shop.b());
  for (const std::int64_t id : {std::int64_t{1}, std::int64_t{500}, kProducts})
    CHECK(product_of(shop.b().get("/products/" + std::to_string(id))).id == id);
  const ServiceMetrics b_after = metrics_of(shop.b()).since(b_before);
  CHECK(b_after.l2_hits == 3);
  CHECK(b_after.origin_reads == 0);
}

TEST_CASE("a PUT through one instance updates the row and is read through the other at once",
          "[catalog][redis]") {
  Catalog shop(/*cached=*/true);
  // Both L1s hold the old value.
  const Product old = product_of(shop.b().get("/products/42"));
  CHECK(product_of(shop.b().get("/products/42")) == old);
  CHECK(product_of(shop.a().get("/products/42")) == old);

  const Product put = product_of(shop.a().put("/products/42", fields_json("Renamed mug", 1234)));
  CHECK(put.id == 42);
  CHECK(put.name == "Renamed mug");
  CHECK(put.price_cents == 1234);
  CHECK(put.version == old.version + 1);
  // The writer's own instance answers it from its L1 at once.
  CHECK(product_of(shop.a().get("/products/42")) == put);

  const auto put_answered = std::chrono::steady_clock::now();
  test::wait_until(
      kCoherenceLimit, [&] { return product_of(shop.b().get("/products/42")) == put; },
      "instance B answers the PUT's value");
  const double seen_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - put_answered)
          .count();
  UNSCOPED_INFO("B answered the new value " << seen_ms << " ms after the PUT's answer");
  CHECK(metrics_of(shop.b()).origin_updates == 0);
  CHECK(metrics_of(shop.a()).origin_updates == 1);

  // A PUT may send back what a GET gave (id and version included).
  nlohmann::json round_trip = put;
  round_trip["stock"] = 3;
  const Product again = product_of(shop.b().put("/products/42", round_trip.dump()));
  CHECK(again.stock == 3);
  CHECK(again.version == put.version + 1);
}

// Two PUTs of one product race: each UPDATEs the row, then sets the row it got in the cache. The
// database takes them in one order and Redis (and an L1) may take their sets in the other, so a
// cache that only sets would keep the older row as the product's value until its TTL.
TEST_CASE("after concurrent PUTs of one product both instances answer the row the database kept",
          "[catalog][redis]") {
  constexpr unsigned kWritersPerInstance = 3;
  constexpr std::int64_t kRacedIds = 150;
  // A worker per writer's keep-alive connection, and one for the checks' clients.
  Catalog shop(/*cached=*/true, /*http_threads=*/kWritersPerInstance + 2);
  std::vector<std::uint16_t> ports;
  for (CatalogClient* c : {&shop.a(), &shop.b()}) {
    const HttpAnswer metrics = c->get("/metrics");  // opens the checks' connections first
    REQUIRE(metrics.status == 200);
  }
  ports = {shop.service_a().port(), shop.service_b().port()};

  // Every writer PUTs every raced id once, all of them on the same id at about the same time.
  const unsigned writers = 2 * kWritersPerInstance;
  std::barrier step(static_cast<std::ptrdiff_t>(writers));
  std::vector<unsigned> failed_puts(writers, 0);
  {
    std::vector<std::jthread> threads;
    for (unsigned w = 0; w < writers; ++w)
      threads.emplace_back([&, w] {
        CatalogClient client("127.0.0.1", ports[w % 2], kRequestTimeout);
        for (std::int64_t id = 100; id < 100 + kRacedIds; ++id) {
          step.arrive_and_wait();
          const HttpAnswer put = client.put("/products/" + std::to_string(id),
                                            fields_json("writer " + std::to_string(w), 100 + w));
          if (put.status != 200) ++failed_puts[w];
        }
      });
  }
  for (unsigned w = 0; w < writers; ++w) CHECK(failed_puts[w] == 0);

  // The database holds version 1 + writers of each; both instances must come to answer it.
  const auto stale_ids = [&] {
    std::vector<std::int64_t> stale;
    for (std::int64_t id = 100; id < 100 + kRacedIds; ++id)
      for (CatalogClient* c : {&shop.a(), &shop.b()})
        if (product_of(c->get("/products/" + std::to_string(id))).version != 1 + writers) {
          stale.push_back(id);
          break;
        }
    return stale;
  };
  std::vector<std::int64_t> stale;
  const auto deadline = std::chrono::steady_clock::now() + kCoherenceLimit;
  while (!(stale = stale_ids()).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  INFO(stale.size() << " of " << kRacedIds << " ids still answer an older row, e.g. "
                    << (stale.empty() ? 0 : stale.front()));
  CHECK(stale.empty());
}

TEST_CASE("bad ids and bodies are 400 with a message, unknown ids 404, other methods 405",
          "[catalog][redis]") {
  Catalog shop(/*cached=*/true);
  CatalogClient& a = shop.a();
  CHECK(error_status(a.get("/products/abc"), "\"abc\"") == 400);
  CHECK(error_status(a.get("/products/0"), "bad product id") == 400);
  CHECK(error_status(a.get("/products/-3"), "bad product id") == 400);
  CHECK(error_status(a.get("/products/007"), "bad product id") == 400);
  CHECK(error_status(a.get("/products/99999999999999999999"), "bad product id") == 400);
  CHECK(error_status(a.get("/products/1001"), "no product 1001") == 404);
  CHECK(error_status(a.get("/products/1001"), "no product 1001") == 404);  // cached "absent"
  CHECK(error_status(a.get("/nothing/here"), "no route") == 404);

  const std::string good = fields_json("Lamp", 999);
  CHECK(error_status(a.put("/products/x1", good), "bad product id") == 400);
  CHECK(error_status(a.put("/products/5", "{\"name\": "), "not valid JSON") == 400);
  CHECK(error_status(a.put("/products/5", "[1, 2]"), "must be a JSON object") == 400);
  nlohmann::json body = nlohmann::json::parse(good);
  body.erase("stock");
  CHECK(error_status(a.put("/products/5", body.dump()), "missing field \"stock\"") == 400);
  body = nlohmann::json::parse(good);
  body["price_cents"] = 12.5;
  CHECK(error_status(a.put("/products/5", body.dump()), "whole number") == 400);
  body["price_cents"] = -1;
  CHECK(error_status(a.put("/products/5", body.dump()), "must be 0 to") == 400);
  body = nlohmann::json::parse(good);
  body["name"] = "";
  CHECK(error_status(a.put("/products/5", body.dump()), "\"name\" is 0 bytes") == 400);
  body = nlohmann::json::parse(good);
  body["id"] = 6;
  CHECK(error_status(a.put("/products/5", body.dump()), "path names product 5") == 400);
  body = nlohmann::json::parse(good);
  body["colour"] = "red";
  CHECK(error_status(a.put("/products/5", body.dump()), "unknown field \"colour\"") == 400);
  CHECK(error_status(a.put("/products/5000", good), "no product 5000") == 404);
  CHECK(error_status(a.request("POST", "/products/5", good), "GET and PUT are") == 405);
  CHECK(error_status(a.request("DELETE", "/products/5", ""), "GET and PUT are") == 405);

  // Nothing of that changed product 5; the one UPDATE run was product 5000's, which found no row.
  const Product five = product_of(a.get("/products/5"));
  CHECK(five.version == 1);
  CHECK(metrics_of(a).origin_updates == 1);
}

TEST_CASE("without the cache, every GET is a SELECT and a PUT an UPDATE", "[catalog]") {
  Catalog shop(/*cached=*/false);
  const ServiceMetrics before = metrics_of(shop.a());
  CHECK_FALSE(before.cached);
  CHECK(product_of(shop.a().get("/products/9")).id == 9);
  CHECK(product_of(shop.a().get("/products/9")).id == 9);
  CHECK(metrics_of(shop.a()).since(before).origin_reads == 2);
  const Product put = product_of(shop.a().put("/products/9", fields_json("Plain", 100)));
  CHECK(product_of(shop.b().get("/products/9")) == put);
  CHECK(error_status(shop.b().get("/products/2000"), "no product 2000") == 404);
}

// The demo asks between steps whether Ctrl-C came: a long fill or warm start must end at once
// (the demo blocks SIGINT and would otherwise notice it only when the load starts).
TEST_CASE("a stop ends a warm start before its next range and a fill with nothing filled",
          "[catalog][redis]") {
  Catalog shop(/*cached=*/true);
  const auto warm = shop.service_a().warm_cache([] { return true; });
  REQUIRE_FALSE(warm);
  CHECK(warm.error() == "warm_cache: stopped");
  CHECK(shop.redis().command({"DBSIZE"}) == ":0");

  test::TempDir dir;
  const std::string path = dir.path() + "/catalog.db";
  unsigned asked = 0;
  const auto stopped = catalog::fill_catalog(path, 5000, [&] { return ++asked > 2; });
  REQUIRE_FALSE(stopped);
  CHECK(stopped.error() == "fill_catalog: stopped");
  // Rolled back: the next fill starts from scratch.
  const auto filled = catalog::fill_catalog(path, 5000);
  REQUIRE(filled);
  CHECK(filled->filled);
}

TEST_CASE("a database is filled once; a second fill of the same size changes nothing",
          "[catalog]") {
  test::TempDir dir;
  const std::string path = dir.path() + "/catalog.db";
  const auto first = catalog::fill_catalog(path, 200);
  REQUIRE(first);
  CHECK(first->filled);
  const auto second = catalog::fill_catalog(path, 200);
  REQUIRE(second);
  CHECK_FALSE(second->filled);
  const auto other = catalog::fill_catalog(path, 300);
  REQUIRE(other);
  CHECK(other->filled);
  CHECK_FALSE(catalog::fill_catalog(path, 0));
}

namespace {

// The demo's options from `args` (after the program's name).
std::expected<catalog::DemoArgs, std::string> demo_args(std::vector<const char*> args) {
  args.insert(args.begin(), "catalog_demo");
  return catalog::parse_demo_args(static_cast<int>(args.size()), args.data());
}

}  // namespace

TEST_CASE("the demo's --db-latency takes a time with its unit and 0 turns it off", "[catalog]") {
  CHECK(demo_args({})->db_latency == 2ms);
  CHECK(demo_args({"--db-latency=5ms"})->db_latency == 5ms);
  CHECK(demo_args({"--db-latency", "500us"})->db_latency == 500us);
  CHECK(demo_args({"--db-latency", "0"})->db_latency == 0us);
  CHECK(demo_args({"--db-latency=1000ms"})->db_latency == 1000ms);
  CHECK(catalog::demo_usage().find("--db-latency") != std::string::npos);
}

TEST_CASE("the demo refuses a --db-latency without a unit or out of bounds and says why",
          "[catalog]") {
  for (const char* bad :
       {"2", "2s", "-1ms", "ms", "2.5ms", "1001ms", "", "2 ms", "99999999999999ms"}) {
    const auto parsed = demo_args({"--db-latency", bad});
    INFO("--db-latency \"" << bad << "\"");
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error() == "--db-latency \"" + std::string(bad) +
                                "\": must be a time like 2ms or 500us, from 0 to 1000ms (0: no "
                                "latency)");
  }
  CHECK(demo_args({"--db-latency"}).error() ==
        "--db-latency needs a value (--help lists the options)");
}

TEST_CASE("the demo warms Redis first unless --no-warm-start says not to", "[catalog]") {
  CHECK(demo_args({})->warm_start);
  CHECK_FALSE(demo_args({"--no-warm-start"})->warm_start);
  CHECK(demo_args({"--no-warm-start=yes"}).error() == "--no-warm-start takes no value");
}

TEST_CASE("the demo's --warmup takes whole seconds from 0 to an hour", "[catalog]") {
  CHECK(demo_args({})->warmup_seconds == 5);
  CHECK(demo_args({"--warmup=0"})->warmup_seconds == 0);
  CHECK(demo_args({"--warmup", "3600"})->warmup_seconds == 3600);
  for (const char* bad : {"3601", "-1", "x", "1.5"}) {
    const auto parsed = demo_args({"--warmup", bad});
    INFO("--warmup \"" << bad << "\"");
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error() ==
          "--warmup \"" + std::string(bad) + "\": must be a whole number from 0 to 3600");
  }
}

TEST_CASE("the demo's report fails when fewer coherence probes ran than were asked for",
          "[catalog]") {
  catalog::DemoReport r;
  catalog::CoherenceResult c;
  c.seen_after.assign(3, std::chrono::milliseconds(1));
  r.coherence = c;
  r.coherence_bound = std::chrono::milliseconds(50);
  r.coherence_probes = 40;
  r.plots = {"throughput.png"};
  const catalog::ReportText cut = catalog::format_report(r);
  CHECK_FALSE(cut.ok);
  CHECK(cut.text.find("FAILED  coherence: 3 of the 40 probes") != std::string::npos);
  r.coherence_probes = 3;
  CHECK(catalog::format_report(r).ok);
  // A run stopped by a signal cuts its probes short by design: it fails as stopped, not here.
  r.coherence_probes = 40;
  r.stopped_by = "SIGINT";
  CHECK(catalog::format_report(r).text.find("ok      coherence: 3 of the 40 probes") !=
        std::string::npos);
}

TEST_CASE("the demo draws no plots from a run stopped before its first sample", "[catalog]") {
  test::TempDir dir;
  const auto plots = catalog::draw_plots(dir.path(), {{"cached", {}}}, "caption");
  REQUIRE_FALSE(plots.has_value());
  CHECK(plots.error().find("no sample") != std::string::npos);
}
