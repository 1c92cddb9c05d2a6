# tiercache — build, test, bench, fuzz, demo. `make help` lists the targets.
# Command-line assignments win over these: make BUILD=build/dbg CXXFLAGS='-O0 -g'

# Output directory; each sanitizer build has its own.
BUILD    ?= build/release
CXX      ?= g++
CXXFLAGS ?= -O2 -g
# Flags the project needs whatever CXXFLAGS says.
STDFLAGS := -std=c++23 -pthread -Iinclude -I. -I$(BUILD)/gen -MMD -MP
# Designated initializers that omit fields are how Options is meant to be written.
WARN     := -Wall -Wextra -Werror -Wno-missing-field-initializers
LDLIBS   := -l:libcds-s.a -l:libxxhash.a -l:libhiredis.a -pthread
# What the optional adapters and codecs link (Debian ships libmemcached and cpp-httplib as shared
# libraries only): only a program that makes one of them needs these (-lcpp-httplib: one that
# calls make_metrics_endpoint).
ADAPTER_LIBS := -lmemcached -lprotobuf -lcpp-httplib
# The shared library's: Debian's shared forms of the same three, and of what the adapters use
# (libmemcached, cpp-httplib), since the .so holds every adapter: a static link pulls an adapter's
# objects only when a program uses it, a shared library links them all. (Debian's linker runs
# --as-needed: -lcds drops out while the library uses libcds's headers alone.)
SHARED_LDLIBS := -lcds -lxxhash -lhiredis -lmemcached -lcpp-httplib -pthread
# Seconds each fuzz target runs under fuzz-smoke; the cluster topology target's parsers are
# small and start from a corpus of real replies, so it gets half.
FUZZ_SECONDS ?= 20
FUZZ_SHORT_SECONDS ?= $(shell echo $$(( ($(FUZZ_SECONDS) + 1) / 2 )))
JOBS     ?= $(shell nproc)
# Where make install puts things; DESTDIR, if set, stages the whole tree (for packagers).
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
# The release; the soname carries SOVERSION, raised whenever a release breaks the ABI (any change
# to a public type's layout does, so every 0.x release may).
VERSION    := 0.1.0
SOVERSION  := 0
# The shared library's objects are the library's sources again, built with -fPIC in their own
# directory (make shared); the static library's objects stay as they are.
PIC_BUILD  := build/pic
ifeq ($(BUILD),$(PIC_BUILD))
PICFLAGS   := -fPIC
endif
# The groups of scripts/deps.sh; each target installs its own (deps-GROUP).
DEP_GROUPS := lib codecs catalog test fuzz bench demo format

ifeq ($(CXX),c++)
CXX := g++
endif

LIB_SRCS   := $(wildcard engine/*/*.cpp adapters/*.cpp adapters/*/*.cpp)
TEST_SRCS  := $(wildcard tests/*.cpp tests/support/*.cpp)
BENCH_SRCS := $(wildcard bench/l[12]_*.cpp bench/peers/*.cpp bench/bench_main.cpp) \
              tests/support/redis_server.cpp tests/support/memcached_server.cpp \
              tests/support/redis_cluster.cpp tests/support/server_process.cpp
LIB_OBJS   := $(LIB_SRCS:%.cpp=$(BUILD)/%.o)
# The protobuf codec's tests use a message protoc compiles into $(BUILD)/gen.
PROTO_SRCS := $(wildcard tests/proto/*.proto)
PROTO_HDRS := $(PROTO_SRCS:%.proto=$(BUILD)/gen/%.pb.h)
TEST_OBJS  := $(TEST_SRCS:%.cpp=$(BUILD)/%.o) $(PROTO_SRCS:%.proto=$(BUILD)/%.pb.o)
BENCH_OBJS := $(BENCH_SRCS:%.cpp=$(BUILD)/%.o)
# The server launchers the bench and the demo link too: they need the library's packages alone.
LAUNCHER_OBJS := $(addprefix $(BUILD)/tests/support/,redis_server.o memcached_server.o redis_cluster.o \
                   server_process.o)
GBENCH_SRCS := $(wildcard bench/gbench/*.cpp bench/peers/*.cpp) tests/support/redis_server.cpp \
               tests/support/server_process.cpp
GBENCH_OBJS := $(GBENCH_SRCS:%.cpp=$(BUILD)/%.o)
# The catalog demo (examples/catalog/): the service, its client, the demo's options, load
# generator, coherence check, plots and report, which the tests link too, and the demo's main.
CATALOG_SERVICE_SRCS := $(addprefix examples/catalog/,catalog_client.cpp catalog_db.cpp \
                          catalog_fill.cpp catalog_service.cpp coherence_check.cpp demo_args.cpp \
                          demo_report.cpp load_generator.cpp plots.cpp product_generator.cpp \
                          product_request.cpp service_metrics.cpp)
CATALOG_DEMO_SRCS := $(filter-out $(CATALOG_SERVICE_SRCS),$(wildcard examples/catalog/*.cpp)) \
                     tests/support/redis_server.cpp tests/support/server_process.cpp
CATALOG_SERVICE_OBJS := $(CATALOG_SERVICE_SRCS:%.cpp=$(BUILD)/%.o)
CATALOG_DEMO_OBJS := $(CATALOG_DEMO_SRCS:%.cpp=$(BUILD)/%.o)
# What the catalog service links beyond the library's own: SQLite and cpp-httplib.
CATALOG_LIBS := -lsqlite3 -lcpp-httplib
ALL_OBJS   := $(LIB_OBJS) $(TEST_OBJS) $(BENCH_OBJS) $(BUILD)/bench/replay.o \
              $(BUILD)/bench/hit_cost.o $(CATALOG_SERVICE_OBJS) $(CATALOG_DEMO_OBJS) \
              $(BUILD)/examples/readme_example.o $(BUILD)/examples/metrics/statsd.o
ALL_OBJS   := $(sort $(ALL_OBJS) $(GBENCH_OBJS))

.PHONY: all deps $(DEP_GROUPS:%=deps-%) shared install uninstall test test-install test-asan \
        test-tsan bench bench-smoke gbench hit-cost demo static-demo fuzz-smoke check-layout format \
        help clean
.DEFAULT_GOAL := all

all: $(BUILD)/libtiercache.a                 ## the static library

help:                                        ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | sed -E 's/:.*## /\t/'

deps:                                        ## install every group's missing Debian packages (deps-GROUP: one)
	@scripts/deps.sh

$(DEP_GROUPS:%=deps-%): deps-%:
	@scripts/deps.sh $*

# Packages before any compile, even under make -j; each object waits for its own group alone, so
# the library never pulls the test group nor the bench the suite's.
$(LIB_OBJS) $(LAUNCHER_OBJS) $(BUILD)/examples/readme_example.o $(BUILD)/examples/metrics/statsd.o: \
  | deps-lib
$(filter-out $(LAUNCHER_OBJS),$(TEST_OBJS)): | deps-test
$(filter-out $(LAUNCHER_OBJS),$(BENCH_OBJS) $(GBENCH_OBJS)) $(BUILD)/bench/replay.o \
  $(BUILD)/bench/hit_cost.o: | deps-bench
$(CATALOG_SERVICE_OBJS): | deps-catalog
$(CATALOG_DEMO_OBJS): | deps-demo

$(BUILD)/%.o: %.cpp
	@mkdir -p $(@D)
	$(CXX) $(STDFLAGS) $(WARN) $(CXXFLAGS) $(PICFLAGS) $(PCHFLAGS) -c $< -o $@

# Catch2's single header is ~70 % of a small test file's compile: it is compiled once per build,
# with the build's own flags, and put before every test file but the runner (which includes it
# under CATCH_CONFIG_RUNNER). GCC looks for TEST_PCH.gch beside TEST_PCH; -Winvalid-pch (an
# error under -Werror) says if the flags ever stop matching, instead of silently not using it.
TEST_PCH       := $(BUILD)/pch/catch_pch.hpp
TEST_CASE_OBJS := $(patsubst %.cpp,$(BUILD)/%.o,$(filter-out tests/main.cpp,$(wildcard tests/*.cpp)))
$(TEST_PCH).gch: tests/support/catch_pch.hpp | deps-test
	@mkdir -p $(@D)
	cp $< $(TEST_PCH)
	$(CXX) $(STDFLAGS) $(WARN) $(CXXFLAGS) $(PICFLAGS) -x c++-header $< -o $@
$(TEST_CASE_OBJS): $(TEST_PCH).gch
$(TEST_CASE_OBJS): PCHFLAGS = -include $(TEST_PCH) -Winvalid-pch

# Debian built libcpp-httplib.so with the macros `pkg-config --cflags cpp-httplib` gives (OpenSSL,
# zlib, brotli), and httplib.h declares what it holds only under them: the one file that includes
# it gets them, read as it compiles (so after deps installed the package).
$(BUILD)/adapters/metrics/metrics_endpoint.o: adapters/metrics/metrics_endpoint.cpp
	@mkdir -p $(@D)
	$(CXX) $(STDFLAGS) $(shell pkg-config --cflags cpp-httplib) $(WARN) $(CXXFLAGS) $(PICFLAGS) -c $< \
	  -o $@

# The same for the catalog demo's files, whose service and client include httplib.h (the others
# do not mind the macros).
$(BUILD)/examples/catalog/%.o: examples/catalog/%.cpp
	@mkdir -p $(@D)
	$(CXX) $(STDFLAGS) $(shell pkg-config --cflags cpp-httplib) $(WARN) $(CXXFLAGS) -c $< -o $@

$(BUILD)/gen/%.pb.cc $(BUILD)/gen/%.pb.h: %.proto | deps-codecs
	@mkdir -p $(BUILD)/gen
	protoc --cpp_out=$(BUILD)/gen $<

# Generated code: the project's warnings are not its author's.
$(BUILD)/%.pb.o: $(BUILD)/gen/%.pb.cc
	@mkdir -p $(@D)
	$(CXX) -std=c++23 -pthread -I$(BUILD)/gen $(CXXFLAGS) -c $< -o $@

# Whatever includes a generated header waits for it (the first build has no .d files yet); the
# launchers include none, so the bench and the demo need no protoc.
$(filter-out $(LAUNCHER_OBJS),$(TEST_SRCS:%.cpp=$(BUILD)/%.o)): | $(PROTO_HDRS)

$(BUILD)/libtiercache.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

shared: deps-lib                             ## the shared library, build/pic/libtiercache.so.VERSION
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=$(PIC_BUILD) $(PIC_BUILD)/libtiercache.so.$(VERSION)

ifeq ($(BUILD),$(PIC_BUILD))
# --no-undefined: every symbol resolves in the objects or in SHARED_LDLIBS, checked at link time.
$(BUILD)/libtiercache.so.$(VERSION): $(LIB_OBJS)
	$(CXX) $(CXXFLAGS) -shared -Wl,-soname,libtiercache.so.$(SOVERSION) -Wl,--no-undefined -o $@ \
	  $^ $(SHARED_LDLIBS)
endif

# The headers, both libraries, tiercache.pc and the CMake package under DESTDIR/PREFIX, and a
# manifest of what was put there (PREFIX/share/tiercache/install_manifest.txt) for uninstall.
install: deps-lib                            ## install headers, libraries, tiercache.pc, CMake package
	@$(MAKE) --no-print-directory -j$(JOBS) $(BUILD)/libtiercache.a
	@$(MAKE) --no-print-directory shared
	@DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' LIBDIR='$(LIBDIR)' INCLUDEDIR='$(INCLUDEDIR)' \
	  VERSION='$(VERSION)' SOVERSION='$(SOVERSION)' LDLIBS='$(LDLIBS)' \
	  STATIC_LIB='$(BUILD)/libtiercache.a' SHARED_LIB='$(PIC_BUILD)/libtiercache.so.$(VERSION)' \
	  scripts/install.sh install

uninstall:                                   ## remove exactly what install put (its manifest)
	@DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' scripts/install.sh uninstall

# The [catalog] tests start the catalog service: its objects and SQLite come along
# (ADAPTER_LIBS has cpp-httplib).
$(BUILD)/tiercache_tests: $(TEST_OBJS) $(CATALOG_SERVICE_OBJS) $(BUILD)/libtiercache.a
	$(CXX) $(CXXFLAGS) -o $@ $(TEST_OBJS) $(CATALOG_SERVICE_OBJS) $(BUILD)/libtiercache.a \
	  $(LDLIBS) $(ADAPTER_LIBS) -lsqlite3

# INSTALL_TEST= leaves out the install test (the sanitizer builds do: what they would install is
# not what a user links).
INSTALL_TEST ?= 1
test: check-layout deps-test                 ## build and run the whole suite, then the install test
	@$(MAKE) --no-print-directory -j$(JOBS) $(BUILD)/tiercache_tests $(BUILD)/readme_example \
	  $(BUILD)/statsd_example
	$(BUILD)/tiercache_tests $(TEST_ARGS)
	$(BUILD)/statsd_example > $(BUILD)/statsd_example.out
	$(if $(INSTALL_TEST),@$(MAKE) --no-print-directory test-install)

# make install into a temp DESTDIR; consumers built against it with pkg-config (-static), CMake
# (libtiercache.a) and against the .so, run and checked; make uninstall must leave nothing.
test-install: deps-test                      ## the install test alone (~1 min after the build)
	@MAKE='$(MAKE)' LDLIBS='$(LDLIBS)' tests/install/run.sh

# g++ 12 under -fsanitize=address reports maybe-uninitialized inside libstdc++'s <regex>.
# The sanitizer builds (and the fuzz build) take -g1: line tables, which is all a sanitizer's
# report shows, at a quarter to a third less compile time than -g.
test-asan:                                   ## the suite under ASan + UBSan
	@$(MAKE) --no-print-directory test BUILD=build/asan INSTALL_TEST= \
	  CXXFLAGS='-O1 -g1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -Wno-maybe-uninitialized'

test-tsan:                                   ## the suite under TSan (tests/tsan.supp says what is suppressed)
	@$(MAKE) --no-print-directory test BUILD=build/tsan INSTALL_TEST= CXXFLAGS='-O1 -g1 -fsanitize=thread' \
	  TEST_ARGS='$(TEST_ARGS)' TSAN_OPTIONS='halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp'

$(BUILD)/tiercache_bench: $(BENCH_OBJS) $(BUILD)/libtiercache.a
	$(CXX) $(CXXFLAGS) -o $@ $(BENCH_OBJS) $(BUILD)/libtiercache.a -lbenchmark -ltbb $(LDLIBS) \
	  $(ADAPTER_LIBS)

$(BUILD)/replay: $(BUILD)/bench/replay.o $(BUILD)/libtiercache.a
	$(CXX) $(CXXFLAGS) -o $@ $< $(BUILD)/libtiercache.a $(LDLIBS)

# The Caffeine peer, compiled against Debian's jar (scripts/deps.sh bench installs both).
CAFFEINE_JAR := /usr/share/java/caffeine.jar
$(BUILD)/caffeine/CaffeinePeer.class: bench/peers/caffeine/CaffeinePeer.java
	@mkdir -p $(@D)
	javac -d $(@D) -cp $(CAFFEINE_JAR) $<

# BENCH_ONLY=GROUP (l1, typed, memcached, metrics) runs one group alone, without the replay and
# the plots, and writes its summary to $(BUILD)/bench-only/ (bench/run.sh).
bench: deps-bench                            ## figures vs peers, trace replay; bench/results/summary.json, PNGs
	@$(MAKE) --no-print-directory -j$(JOBS) $(BUILD)/tiercache_bench $(BUILD)/replay \
	  $(BUILD)/caffeine/CaffeinePeer.class
	bench/run.sh $(BUILD)

# Small data sets and BENCH_SECONDS=0.2; writes under $(BUILD)/bench-smoke/, not bench/results/.
bench-smoke: deps-bench                      ## ~1-minute bench run for CI: that it runs, never its speed
	@$(MAKE) --no-print-directory -j$(JOBS) $(BUILD)/tiercache_bench $(BUILD)/replay \
	  $(BUILD)/caffeine/CaffeinePeer.class
	BENCH_SMOKE=1 bench/run.sh $(BUILD)

$(BUILD)/hit_cost: $(BUILD)/bench/hit_cost.o $(BUILD)/bench/peers/libcds_map.o $(BUILD)/libtiercache.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(LDLIBS)

# Instruction counts are repeatable where timings are not; HIT_COST_KEYS sizes the table.
hit-cost: deps-bench                         ## instructions per L1 operation (callgrind) vs the raw map
	@$(MAKE) --no-print-directory -j$(JOBS) $(BUILD)/hit_cost
	bench/hit_cost.sh $(BUILD)/hit_cost $(HIT_COST_KEYS)

$(BUILD)/tiercache_gbench: $(GBENCH_OBJS) $(BUILD)/libtiercache.a
	$(CXX) $(CXXFLAGS) -o $@ $(GBENCH_OBJS) $(BUILD)/libtiercache.a -lbenchmark -ltbb $(LDLIBS)

# GBENCH_ARGS passes flags, e.g. GBENCH_ARGS='--benchmark_filter=L2/ --benchmark_min_time=0.05'.
gbench: deps-bench                           ## Google Benchmark grid vs peers (~1.5 min)
	@$(MAKE) --no-print-directory -j$(JOBS) $(BUILD)/tiercache_gbench
	$(BUILD)/tiercache_gbench $(GBENCH_ARGS)

# Built by test so the README's example keeps compiling.
$(BUILD)/readme_example: $(BUILD)/examples/readme_example.o $(BUILD)/libtiercache.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(LDLIBS)

# Built and run by test, so the StatsD example keeps compiling and working (its lines go to
# $(BUILD)/statsd_example.out).
$(BUILD)/statsd_example: $(BUILD)/examples/metrics/statsd.o $(BUILD)/libtiercache.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(LDLIBS)

# The catalog demo; its private redis-server is the tests' launcher, test::RedisServer.
$(BUILD)/catalog_demo: $(CATALOG_DEMO_OBJS) $(CATALOG_SERVICE_OBJS) $(BUILD)/libtiercache.a
	$(CXX) $(CXXFLAGS) -o $@ $^ $(LDLIBS) $(CATALOG_LIBS)

# ARGS passes options (make demo ARGS='--threads 8 --seconds 30'; ARGS=--help lists them); the
# database, report and plots go to build/catalog-demo/ unless ARGS says --out.
demo: deps-demo                              ## the catalog demo: service on SQLite + Redis, load, report, plots (~1 min)
	@$(MAKE) --no-print-directory -j$(JOBS) $(BUILD)/catalog_demo
	$(BUILD)/catalog_demo --out build/catalog-demo $(ARGS)

# Debian ships cpp-httplib as a shared library only (no libcpp-httplib.a), so the service's HTTP
# layer cannot be linked statically, and the binary is not a static one: tiercache, libcds,
# xxHash, hiredis and SQLite are linked in; libcpp-httplib.so brings what it needs (OpenSSL,
# zlib, brotli), and glibc, libstdc++ and libgcc_s stay shared, as the .so needs them too. ldd
# lists what is left dynamic.
static-demo: deps-demo                       ## the catalog demo, its libraries static but for cpp-httplib and the C/C++ runtimes, build/static/catalog_demo.static
	@$(MAKE) --no-print-directory -j$(JOBS) BUILD=build/static build/static/catalog_demo.static
	@echo "build/static/catalog_demo.static: static but for libcpp-httplib.so, what it loads and the C/C++ runtimes:"
	@ldd build/static/catalog_demo.static

build/static/catalog_demo.static: $(CATALOG_DEMO_OBJS:$(BUILD)/%=build/static/%) \
                                  $(CATALOG_SERVICE_OBJS:$(BUILD)/%=build/static/%) \
                                  build/static/libtiercache.a
	$(CXX) $(CXXFLAGS) -o $@ $^ -Wl,-Bstatic $(LDLIBS) -lsqlite3 -Wl,-Bdynamic -lcpp-httplib

# libFuzzer needs clang; clang 19 is the first Debian one that compiles libstdc++ 12's <expected>.
FUZZ_CXX   := clang++-19
FUZZ_FLAGS := -std=c++23 -O1 -g1 -Iinclude -I. -Ibuild/fuzz/gen -fsanitize=fuzzer,address,undefined
FUZZ_PROTO := $(PROTO_SRCS:%.proto=build/fuzz/gen/%.pb.cc)
# Each source is compiled once into build/fuzz/obj/, in parallel, and linked into every target
# that needs it: a whole-library target no longer compiles the library alone, one file at a time.
FUZZ_OBJ        := build/fuzz/obj
FUZZ_NAMES      := $(sort $(basename $(notdir $(wildcard fuzz/*_fuzz.cpp))))
FUZZ_BINS       := $(FUZZ_NAMES:%=build/fuzz/%)
FUZZ_LIB_OBJS   := $(LIB_SRCS:%.cpp=$(FUZZ_OBJ)/%.o)
FUZZ_PROTO_OBJS := $(PROTO_SRCS:%.proto=$(FUZZ_OBJ)/%.pb.o)
FUZZ_OBJS       := $(FUZZ_LIB_OBJS) $(FUZZ_PROTO_OBJS) $(FUZZ_NAMES:%=$(FUZZ_OBJ)/fuzz/%.o)
# A decoder's or a parser's target is built from what it checks alone; the others from the whole
# library.
FUZZ_DECODE_BINS   := $(filter %_decode_fuzz,$(FUZZ_BINS))
FUZZ_TOPOLOGY_OBJS := $(addprefix $(FUZZ_OBJ)/adapters/redis/,cluster_topology.o cluster_redirect.o \
                        node_address.o reply_bounds.o endpoint.o redis_url.o hash_slot.o) \
                      $(FUZZ_OBJ)/engine/api/error.o $(FUZZ_OBJ)/engine/api/redacted_url.o
FUZZ_PART_BINS     := $(FUZZ_DECODE_BINS) build/fuzz/file_record_fuzz build/fuzz/cluster_topology_fuzz

$(FUZZ_OBJS): | deps-fuzz

# Every file gets the flags the single command of each target gave it (httplib's macros too).
$(FUZZ_OBJ)/%.pb.o: build/fuzz/gen/%.pb.cc
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_FLAGS) $(shell pkg-config --cflags cpp-httplib) -MMD -MP -c $< -o $@

$(FUZZ_OBJ)/%.o: %.cpp
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_FLAGS) $(shell pkg-config --cflags cpp-httplib) -MMD -MP -c $< -o $@

$(FUZZ_DECODE_BINS): $(FUZZ_OBJ)/engine/api/error.o $(FUZZ_PROTO_OBJS)
build/fuzz/file_record_fuzz: $(FUZZ_OBJ)/adapters/file/record.o
build/fuzz/cluster_topology_fuzz: $(FUZZ_TOPOLOGY_OBJS)
$(filter-out $(FUZZ_PART_BINS),$(FUZZ_BINS)): $(FUZZ_LIB_OBJS) $(FUZZ_PROTO_OBJS)
$(FUZZ_BINS): build/fuzz/%: $(FUZZ_OBJ)/fuzz/%.o
	$(FUZZ_CXX) $(FUZZ_FLAGS) $^ -o $@ $(LDLIBS) $(ADAPTER_LIBS)

# A target's seeds are in fuzz/corpus/NAME/ if it has any; what libFuzzer adds goes to
# build/fuzz/corpus/NAME/. The topology parsers must not allocate what a reply names: any one
# allocation over 16 MiB fails their target. Every target is built before the first one runs.
fuzz-smoke: deps-fuzz                        ## each fuzz target for FUZZ_SECONDS (some for FUZZ_SHORT_SECONDS)
	@mkdir -p build/fuzz/artifacts
	@$(MAKE) --no-print-directory BUILD=build/fuzz $(FUZZ_PROTO)
	@$(MAKE) --no-print-directory -j$(JOBS) $(FUZZ_BINS)
	@set -e; for n in $(FUZZ_NAMES); do \
	  secs=$(FUZZ_SECONDS); limit=""; \
	  case $$n in \
	    cluster_topology_fuzz) secs=$(FUZZ_SHORT_SECONDS); limit=-malloc_limit_mb=16 ;; \
	  esac; \
	  echo "fuzz: $$n for $$secs s"; \
	  dict=""; [ -f fuzz/$$n.dict ] && dict="-dict=fuzz/$$n.dict"; \
	  corpus=""; [ -d fuzz/corpus/$$n ] && corpus="build/fuzz/corpus/$$n fuzz/corpus/$$n" && \
	    mkdir -p build/fuzz/corpus/$$n; \
	  build/fuzz/$$n -max_total_time=$$secs -artifact_prefix=build/fuzz/artifacts/ $$dict $$limit $$corpus \
	    > build/fuzz/$$n.log 2>&1 || { tail -40 build/fuzz/$$n.log; exit 1; }; \
	  tail -1 build/fuzz/$$n.log; \
	done

check-layout:                                ## engine/ free of I/O and adapters; layers include downward only
	@! grep -rnE '#include [<"](hiredis|cds/|engine/|adapters/)' include/
	@! grep -rnE '#include [<"](hiredis|sys/socket|fstream)' engine/
	@! grep -rnE '#include [<"]adapters/' engine/
	@! grep -rnE '#include [<"]engine/' adapters/
	@! grep -rnE '#include [<"]engine/(l2|api)/' engine/l1/ engine/miss/
	@! grep -rnE '#include [<"]engine/api/' engine/l2/

format: deps-format                          ## clang-format every source file in place
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:                                       ## remove build/
	rm -rf build

-include $(ALL_OBJS:.o=.d) $(FUZZ_OBJS:.o=.d)
