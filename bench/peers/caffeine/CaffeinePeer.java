// bench/peers/caffeine/CaffeinePeer.java — Caffeine (Debian's libcaffeine-java) replaying the
// workload file the C++ bench writes (bench/peers/caffeine_peer.cpp), so both run the same keys
// and request sequences in the same run. Prints one line: mops=<M> gets=<G> hits=<H> cpu_share=<S>.
//
// File (little-endian): u32 key count, then per key u32 length + bytes; u32 value length + bytes;
// u32 thread count, then per thread u32 request count + that many u32 (bit 31: a write).
import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.atomic.AtomicLong;

public final class CaffeinePeer {
  private static final int WRITE_BIT = 1 << 31;
  // Requests between two looks at the stop flag, as the C++ replay does.
  private static final int REQUESTS_PER_STOP_CHECK = 256;

  private static volatile boolean stop;

  public static void main(String[] args) throws Exception {
    if (args.length != 4) {
      System.err.println("usage: CaffeinePeer <workload file> <threads> <warmup s> <seconds>");
      System.exit(2);
    }
    ByteBuffer in = ByteBuffer.wrap(Files.readAllBytes(Path.of(args[0])))
        .order(ByteOrder.LITTLE_ENDIAN);
    String[] keys = new String[in.getInt()];
    for (int i = 0; i < keys.length; i++) keys[i] = readString(in);
    // Requests use other String objects than the ones stored, as a server's keys arrive: equals()
    // then compares the bytes instead of stopping at ==. Each String still caches its hash after
    // its first use, which a Java server building keys per request would not get.
    String[] requestKeys = new String[keys.length];
    for (int i = 0; i < keys.length; i++) requestKeys[i] = new String(keys[i].toCharArray());
    byte[] value = readBytes(in);
    int[][] requests = new int[in.getInt()][];
    for (int t = 0; t < requests.length; t++) {
      requests[t] = new int[in.getInt()];
      for (int i = 0; i < requests[t].length; i++) requests[t][i] = in.getInt();
    }
    int threads = Integer.parseInt(args[1]);
    // Room for every key: a hit, never an eviction, is what the C++ side measures too.
    Cache<String, byte[]> cache = Caffeine.newBuilder().maximumSize(2L * keys.length).build();
    for (String k : keys) cache.put(k, value);

    run(cache, requestKeys, value, requests, threads, Double.parseDouble(args[2]));
    long[] totals = run(cache, requestKeys, value, requests, threads, Double.parseDouble(args[3]));
    System.out.printf("mops=%.4f gets=%d hits=%d cpu_share=%.3f%n",
        totals[0] / Double.parseDouble(args[3]) / 1e6, totals[1], totals[2], totals[3] / 1000.0);
  }

  // Returns {requests, gets, hits, cpu share x 1000}.
  private static long[] run(Cache<String, byte[]> cache, String[] keys, byte[] value,
      int[][] requests, int threads, double seconds) throws Exception {
    stop = false;
    AtomicLong done = new AtomicLong(), gets = new AtomicLong(), hits = new AtomicLong();
    AtomicLong sink = new AtomicLong();
    CyclicBarrier start = new CyclicBarrier(threads + 1);
    Thread[] workers = new Thread[threads];
    for (int t = 0; t < threads; t++) {
      int[] mine = requests[t % requests.length];
      workers[t] = new Thread(() -> {
        long n = 0, g = 0, h = 0, s = 0;
        int next = 0;
        try {
          start.await();
        } catch (Exception e) {
          throw new RuntimeException(e);
        }
        while (!stop) {
          for (int i = 0; i < REQUESTS_PER_STOP_CHECK; i++) {
            int r = mine[next];
            next = next + 1 == mine.length ? 0 : next + 1;
            String key = keys[r & ~WRITE_BIT];
            if ((r & WRITE_BIT) != 0) {
              cache.put(key, value);
              continue;
            }
            g++;
            byte[] v = cache.getIfPresent(key);
            if (v != null) {
              h++;
              s += v.length + v[0];
            }
          }
          n += REQUESTS_PER_STOP_CHECK;
        }
        done.addAndGet(n);
        gets.addAndGet(g);
        hits.addAndGet(h);
        sink.addAndGet(s);
      });
      workers[t].start();
    }
    long cpuBefore = processCpuNanos();
    start.await();
    long began = System.nanoTime();
    Thread.sleep((long) (seconds * 1000));
    stop = true;
    for (Thread w : workers) w.join();
    long wall = System.nanoTime() - began;
    long cpu = processCpuNanos() - cpuBefore;
    long share = Math.round(1000.0 * cpu / ((double) wall * threads));
    if (sink.get() == 42) System.err.print("");  // keeps the reads alive
    return new long[] {done.get(), gets.get(), hits.get(), Math.min(share, 1000)};
  }

  private static long processCpuNanos() {
    return ((com.sun.management.OperatingSystemMXBean)
        ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
  }

  private static byte[] readBytes(ByteBuffer in) throws IOException {
    byte[] b = new byte[in.getInt()];
    in.get(b);
    return b;
  }

  private static String readString(ByteBuffer in) throws IOException {
    return new String(readBytes(in), StandardCharsets.ISO_8859_1);
  }
}
