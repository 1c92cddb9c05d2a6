#include <system_error>

#include "tests/support/test_support.hpp"

using tiercache::errc;

TEST_CASE("errc values are std::error_codes of the tiercache category with readable messages") {
  std::error_code ec = errc::timeout;
  CHECK(ec.category().name() == std::string("tiercache"));
  CHECK(ec.message() == "timeout");
  CHECK(ec == errc::timeout);
  CHECK(ec != errc::cancelled);
  CHECK(std::error_code(errc::not_found).value() != 0);
  for (int c = static_cast<int>(errc::not_found); c <= static_cast<int>(errc::buffer_too_small);
       ++c)
    CHECK_FALSE(tiercache::make_error_code(static_cast<errc>(c)).message().empty());
}

TEST_CASE("an Error compares equal to its errc") {
  tiercache::Error e{errc::overloaded, "queue full"};
  CHECK(e == errc::overloaded);
  CHECK_FALSE(e == errc::closed);
}
