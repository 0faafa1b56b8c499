package dev.cascade.router.api;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import dev.cascade.schemas.avro.CascadeResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;
import java.util.function.Supplier;

/**
 * The HTTP door's {@code Idempotency-Key}: a call retried with the key of an earlier one (by the
 * same API key) is not generated again. The key names the request: its id is derived from the API
 * key's name and the key ({@link #requestId}), so the router's duplicate check refuses a second
 * generation wherever the retry lands, on any door, for as long as it remembers ids. On this door,
 * a retry waits for the first call's answer, or has it at once if it has come: the first call's
 * answer is kept for {@code keep} ({@code maxKeys} calls at most; past that the cache gives up the least used).
 */
final class IdempotencyKeys {

  /** The header, as OpenAI's clients and other HTTP APIs name it. */
  static final String HEADER = "Idempotency-Key";
  /** Set on an answer that is an earlier call's, kept for its key. */
  static final String REPLAYED_HEADER = "Idempotent-Replayed";
  static final int MAX_LENGTH = 255;

  /** A call's key: its body's digest (a retry must send the same body), and its answer to come. */
  record Entry(String bodySha256, CompletableFuture<CascadeResponse> response) {}

  /** What {@link #claim} found: the entry, and whether it is this call's own (not a retry's). */
  record Claim(Entry entry, boolean first) {}

  private final Cache<String, Entry> entries;

  IdempotencyKeys(Duration keep, long maxKeys) {
    entries = Caffeine.newBuilder().expireAfterWrite(keep).maximumSize(maxKeys).executor(Runnable::run)
        .<String, Entry>evictionListener((id, entry, cause) -> {
          if (entry != null) {
            // Given up before its answer came: whoever waits on it stops waiting (408). Called as the
            // entry goes, before a new call with its key can claim it: the door's wait for the old
            // one ends before the new one is sent, so a request id never waits twice on one door.
            entry.response().completeExceptionally(new TimeoutException("its Idempotency-Key's wait was given up"
                + " after " + keep.toSeconds() + " s, or for newer keys"));
          }
        }).build();
  }

  /**
   * Checks a presented key: 1 to {@value #MAX_LENGTH} visible ASCII characters.
   *
   * @return what is wrong with it, or null
   */
  static String problem(String key) {
    if (key.isEmpty() || key.length() > MAX_LENGTH) {
      return HEADER + ": must be 1 to " + MAX_LENGTH + " characters, was " + key.length();
    }
    for (int i = 0; i < key.length(); i++) {
      char c = key.charAt(i);
      if (c < 0x21 || c > 0x7E) {
        return HEADER + ": must be visible ASCII characters (no spaces), has U+"
            + String.format("%04X", (int) c) + " at " + i;
      }
    }
    return null;
  }

  /**
   * The request id of a call with {@code key} by {@code caller} (an API key's name; empty on a door
   * without keys): the same for every retry, another for another caller with the same key.
   */
  static String requestId(String prefix, String caller, String key) {
    return prefix + "idem-" + sha256(caller + "\n" + key).substring(0, 32);
  }

  static String sha256(byte[] bytes) {
    try {
      return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("no SHA-256", e);
    }
  }

  private static String sha256(String s) {
    return sha256(s.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * The entry of request {@code id}: an earlier call's, or a new one whose answer {@code submit}
   * gives (called at most once, only when no call has the id).
   */
  Claim claim(String id, String bodySha256, Supplier<CompletableFuture<CascadeResponse>> submit) {
    boolean[] first = {false};
    Entry entry = entries.get(id, k -> {
      first[0] = true;
      return new Entry(bodySha256, submit.get());
    });
    return new Claim(entry, first[0]);
  }

  /** Forgets {@code id}'s entry: its call was not sent, so a retry may send it. */
  void forget(String id, Entry entry) {
    entries.asMap().remove(id, entry);
  }
}
