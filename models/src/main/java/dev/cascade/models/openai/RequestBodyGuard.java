package dev.cascade.models.openai;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpHeaderValue;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.Invocable;
import org.eclipse.jetty.util.thread.Scheduler;

/**
 * Reads a request's body in full, without holding a thread, before the door's (blocking) routes
 * see the request; a body that arrives too slowly is answered 408, and only so many bodies are read
 * at once (more: 429). Both in OpenAI's error shape, with {@code Connection: close}.
 *
 * <p>Why: a route reads its body with a blocking read on one of Jetty's threads, and Jetty's idle
 * timeout starts again with every byte, so clients that send a body a byte every few seconds held
 * every thread (and the door stopped answering anyone). Jetty 12's own {@code
 * HttpConfiguration.setMinRequestDataRate} is stored but not enforced, and its {@code
 * MinimumDataRateHandler} measures the bytes of all requests together, not of one.
 *
 * <p>The rules: a body must arrive in full within {@code timeoutMs} plus one second for every
 * {@code minBytesPerSecond} bytes of it (its {@code Content-Length}; the largest body allowed when
 * it is sent chunked), counted from the end of its headers; at most {@code maxReads} bodies are
 * being read at once; a body over {@code maxBytes} is 413. A request whose {@code Content-Length}
 * is over {@code maxBytes} is answered 413 by the door from its header: with "Expect: 100-continue"
 * at once, so the client uploads nothing; without it, once the body has been read and dropped (when
 * it is at most {@link #MAX_DRAINED_BYTES} and a place is free; else at once; it holds its place as
 * a body being read does, for the time its length allows, and is answered when it gives it up). A
 * server that closes a connection with a body unread makes its TCP stack reset the connection, and
 * a client still sending then sees the reset instead of the 413; so, as Tomcat and nginx do, the
 * guard reads what it refuses. While a body arrives it holds only the bytes received so far.
 *
 * <p>When every place is taken, a new body takes the place of the one that has gone longest
 * without a byte, if that is at least {@link #STALLED_MS} (that one is answered 408 at once, 413 if
 * it was being dropped): so
 * clients that stall their bodies cannot keep the places from callers that send theirs. Only when
 * every body being read is still arriving is a new one 429.
 */
public final class RequestBodyGuard extends Handler.Wrapper {

  /**
   * @param maxBytes the largest body read
   * @param timeoutMs the time every body is given to arrive
   * @param minBytesPerSecond the rate a body must arrive at beyond that
   * @param maxReads the most bodies read at once
   */
  public record Limits(long maxBytes, long timeoutMs, long minBytesPerSecond, int maxReads) {
    public Limits {
      if (maxBytes < 1 || timeoutMs < 1 || minBytesPerSecond < 1 || maxReads < 1) {
        throw new IllegalArgumentException("every limit must be positive: " + maxBytes + ", " + timeoutMs + ", "
            + minBytesPerSecond + ", " + maxReads);
      }
    }

    /** How long a body of {@code length} bytes (negative: unknown, the largest) may take to arrive. */
    public long allowedMs(long length) {
      long bytes = length < 0 ? maxBytes : Math.min(length, maxBytes);
      return timeoutMs + bytes * 1000 / minBytesPerSecond;
    }
  }

  /** A body that has had no byte for this long gives its place up to a new one when every place is taken. */
  public static final long STALLED_MS = 1_000;

  /**
   * The largest body over the limit read (and dropped) before its 413, so that the client sees the
   * answer rather than a reset connection; a larger one is answered at once.
   */
  public static final long MAX_DRAINED_BYTES = 16L << 20;

  private final Limits limits;
  private final Semaphore reads;
  /** The bodies being read (each holds one of {@link #reads}). */
  private final java.util.Set<Reader> readers = java.util.concurrent.ConcurrentHashMap.newKeySet();

  public RequestBodyGuard(Limits limits) {
    this.limits = limits;
    this.reads = new Semaphore(limits.maxReads());
  }

  /** Bodies being read now. */
  public int reading() {
    return limits.maxReads() - reads.availablePermits();
  }

  @Override
  public boolean handle(Request request, Response response, Callback callback) throws Exception {
    Handler next = getHandler();
    if (next == null) {
      return false;
    }
    long length = request.getHeaders().getLongField(HttpHeader.CONTENT_LENGTH);
    boolean chunked = request.getHeaders().contains(HttpHeader.TRANSFER_ENCODING, HttpHeaderValue.CHUNKED.asString());
    if (length > limits.maxBytes()) {
      // refused from its header: read and dropped first when the client is sending it anyway
      boolean expectsContinue = request.getHeaders().contains(HttpHeader.EXPECT, HttpHeaderValue.CONTINUE.asString());
      if (expectsContinue || length > MAX_DRAINED_BYTES || !reads.tryAcquire()) {
        return next.handle(request, response, callback);
      }
      new Reader(next, request, response, callback, length, true).start();
      return true;
    }
    if (length <= 0 && !chunked) {
      return next.handle(request, response, callback); // no body
    }
    if (!reads.tryAcquire() && !(evictStalled() && reads.tryAcquire())) {
      refuse(response, callback, 429, new OpenAiError(429, "requests", null, "rate_limit_exceeded", "this server is"
          + " already reading " + limits.maxReads() + " request bodies, its limit; try again shortly"));
      return true;
    }
    new Reader(next, request, response, callback, length, false).start();
    return true;
  }

  /** Ends the read that has gone longest without a byte, if that is at least {@link #STALLED_MS}; whether one was. */
  private boolean evictStalled() {
    long now = System.nanoTime();
    Reader stalled = null;
    for (Reader r : readers) {
      if (now - r.lastByte >= TimeUnit.MILLISECONDS.toNanos(STALLED_MS)
          && (stalled == null || r.lastByte < stalled.lastByte)) {
        stalled = r;
      }
    }
    return stalled != null && stalled.evict();
  }

  /** Answers {@code error} and closes the connection (the body, if any, is left unread). */
  private static void refuse(Response response, Callback callback, int status, OpenAiError error) {
    response.setStatus(status);
    response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
    response.getHeaders().put(HttpHeader.CONNECTION, HttpHeaderValue.CLOSE.asString());
    if (status == 429 || status == 503) {
      response.getHeaders().put(HttpHeader.RETRY_AFTER, "1");
    }
    response.write(true, ByteBuffer.wrap(error.toJson().getBytes(StandardCharsets.UTF_8)), callback);
  }

  /**
   * One body on its way in; whichever of its end, its deadline or a failure comes first decides. A
   * body to {@code drop} (one over the limit) is counted, not kept, and the door is handed the
   * request with no body whatever decides (it answers 413 from the header).
   */
  private final class Reader implements Invocable.Task {
    private final Handler next;
    private final Request request;
    private final Response response;
    private final Callback callback;
    private final long length;
    private final boolean drop;
    private final long allowedMs;
    private final AtomicBoolean decided = new AtomicBoolean();
    private final long started = System.nanoTime();
    private byte[] body;
    private volatile int size;
    /** When the last byte came (or the headers, before the first). */
    private volatile long lastByte = started;
    private Scheduler.Task deadline;

    Reader(Handler next, Request request, Response response, Callback callback, long length, boolean drop) {
      this.next = next;
      this.request = request;
      this.response = response;
      this.callback = callback;
      this.length = length;
      this.drop = drop;
      this.allowedMs = drop ? limits.timeoutMs() + length * 1000 / limits.minBytesPerSecond() : limits.allowedMs(length);
      this.body = drop ? new byte[0] : new byte[(int) Math.min(length > 0 ? length : 4096, 8 * 1024)];
    }

    void start() {
      readers.add(this);
      deadline = request.getComponents().getScheduler().schedule(this::late, allowedMs, TimeUnit.MILLISECONDS);
      read(false);
    }

    @Override
    public InvocationType getInvocationType() {
      return InvocationType.NON_BLOCKING; // copies bytes; the route runs on the context's executor
    }

    @Override
    public void run() {
      read(true);
    }

    private void read(boolean fromDemand) {
      while (!decided.get()) {
        Content.Chunk chunk = request.read();
        if (chunk == null) {
          request.demand(this);
          return;
        }
        if (Content.Chunk.isFailure(chunk)) {
          Throwable failure = chunk.getFailure();
          if (!chunk.isLast() || failure instanceof TimeoutException) {
            late(); // Jetty's idle timeout, before our deadline
          } else if (drop) {
            late(); // the client went away: the 413 goes nowhere, but the door counts it
          } else if (decide()) {
            callback.failed(failure); // the client went away
          }
          return;
        }
        if (chunk.hasRemaining()) {
          lastByte = System.nanoTime();
        }
        try {
          if (!append(chunk.getByteBuffer())) {
            if (decide()) {
              refuse(response, callback, 413, OpenAiError.tooLarge(length, limits.maxBytes()));
            }
            return;
          }
        } finally {
          chunk.release();
        }
        if (chunk.isLast()) {
          if (decide()) {
            Request whole = new WholeBody(request, ByteBuffer.wrap(body, 0, drop ? 0 : size));
            if (fromDemand) {
              request.getContext().execute(() -> dispatch(whole));
            } else {
              dispatch(whole);
            }
          }
          return;
        }
      }
    }

    /** Copies {@code bytes}; false once the body is over the limit. */
    private boolean append(ByteBuffer bytes) {
      int n = bytes.remaining();
      if (drop) {
        bytes.position(bytes.limit());
        size += n;
        return true;
      }
      if ((long) size + n > limits.maxBytes()) {
        return false;
      }
      if (size + n > body.length) {
        body = Arrays.copyOf(body, (int) Math.min(limits.maxBytes(), Math.max((long) size + n, 2L * body.length)));
      }
      bytes.get(body, size, n);
      size += n;
      return true;
    }

    /** Gives this read's place up to a new one (it has stalled); false when it has already ended. */
    boolean evict() {
      if (!decide()) {
        return false;
      }
      if (drop) {
        answerFromHeader(); // its 413 now, the rest of the body unread
        return true;
      }
      refuse(response, callback, 408, new OpenAiError(408, "timeout_error", null, "request_timeout", "the request"
          + " body stalled (no byte for " + (System.nanoTime() - lastByte) / 1_000_000 + " ms, " + size + " of "
          + (length < 0 ? "its" : length) + " bytes came) while every place for a body arriving was taken; send it"
          + " faster"));
      return true;
    }

    private void late() {
      if (drop) {
        if (decide()) {
          answerFromHeader();
        }
        return;
      }
      if (decide()) {
        refuse(response, callback, 408, new OpenAiError(408, "timeout_error", null, "request_timeout", "the request"
            + " body did not arrive in full within " + allowedMs + " ms (" + size + " of "
            + (length < 0 ? "its" : length) + " bytes came); send it faster"));
      }
    }

    /** Hands a body to drop to the door, which answers 413 from its header, with no body to read. */
    private void answerFromHeader() {
      Request unread = new WholeBody(request, ByteBuffer.allocate(0));
      request.getContext().execute(() -> dispatch(unread));
    }

    /** True for the first of the outcomes only; frees this read's place and its deadline. */
    private boolean decide() {
      if (!decided.compareAndSet(false, true)) {
        return false;
      }
      readers.remove(this);
      reads.release();
      if (deadline != null) {
        deadline.cancel();
      }
      return true;
    }

    private void dispatch(Request whole) {
      try {
        if (!next.handle(whole, response, callback)) {
          Response.writeError(whole, response, callback, 404);
        }
      } catch (Throwable t) {
        Response.writeError(whole, response, callback, t);
      }
    }
  }

  /** The request with its body already read: one chunk, then the end. */
  private static final class WholeBody extends Request.Wrapper {
    private Content.Chunk next;

    WholeBody(Request request, ByteBuffer body) {
      super(request);
      this.next = Content.Chunk.from(body, true);
    }

    @Override
    public synchronized Content.Chunk read() {
      Content.Chunk chunk = next;
      next = Content.Chunk.EOF;
      return chunk;
    }

    @Override
    public void demand(Runnable demandCallback) {
      demandCallback.run(); // read() always has something
    }
  }
}
