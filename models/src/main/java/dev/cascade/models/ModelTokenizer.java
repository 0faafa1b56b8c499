package dev.cascade.models;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * Text to token ids and back, through a Hugging Face {@code tokenizer.json} (DJL's binding).
 *
 * <p>The model's sequences are: prompt tokens, the separator, output tokens, end-of-sequence. The
 * separator, end-of-sequence, padding and unknown tokens are looked up by name in the tokenizer's
 * vocabulary ({@code <sep>}, {@code <eos>}, {@code <pad>}, {@code <unk>} unless told otherwise).
 * Decoding joins output tokens with single spaces, which is the reference form of the data.
 * Thread-safe: the native tokenizer is immutable once loaded.
 */
public final class ModelTokenizer implements AutoCloseable {

  /** The names of the special tokens. */
  public record SpecialTokens(String pad, String sep, String eos, String unk) {
    public static final SpecialTokens DEFAULT = new SpecialTokens("<pad>", "<sep>", "<eos>", "<unk>");
  }

  private final HuggingFaceTokenizer tokenizer;
  private final long pad;
  private final long sep;
  private final long eos;
  private final long unk;
  private final int maxPromptTokens;
  /** Characters per allowed token in the prefix a very long prompt is first judged on; no tokenizer's tokens are this long on average. */
  private static final int PREFIX_CHARS_PER_TOKEN = 32;
  private final Map<String, Integer> vocabulary;
  private final String sha256;

  private ModelTokenizer(HuggingFaceTokenizer tokenizer, Map<String, Integer> vocabulary, SpecialTokens special,
      int maxPromptTokens, String sha256) {
    this.tokenizer = tokenizer;
    this.sha256 = sha256;
    this.vocabulary = Map.copyOf(vocabulary);
    this.pad = idOf(tokenizer, special.pad());
    this.sep = idOf(tokenizer, special.sep());
    this.eos = idOf(tokenizer, special.eos());
    this.unk = idOf(tokenizer, special.unk());
    this.maxPromptTokens = maxPromptTokens;
  }

  /**
   * Loads {@code tokenizer.json}.
   *
   * @param maxPromptTokens the longest prompt, in tokens, that the model's context leaves room for
   */
  public static ModelTokenizer load(Path tokenizerJson, SpecialTokens special, int maxPromptTokens)
      throws IOException {
    HuggingFaceTokenizer hf = HuggingFaceTokenizer.builder()
        .optTokenizerPath(tokenizerJson)
        .optAddSpecialTokens(false)
        .optTruncation(false)
        .optPadding(false)
        .build();
    JsonNode json = new ObjectMapper().readTree(tokenizerJson.toFile());
    JsonNode vocab = json.path("model").path("vocab");
    Map<String, Integer> vocabulary = new HashMap<>();
    vocab.fields().forEachRemaining(e -> vocabulary.put(e.getKey(), e.getValue().asInt()));
    return new ModelTokenizer(hf, vocabulary, special, maxPromptTokens, canonicalSha256(json));
  }

  /**
   * The lower-case hex SHA-256 of a tokenizer JSON in canonical form: object keys sorted, no
   * insignificant whitespace, UTF-8. Formatting and key order do not change it; any token, id,
   * normaliser or merge does.
   */
  static String canonicalSha256(JsonNode json) {
    ObjectMapper canonical = new ObjectMapper()
        .configure(com.fasterxml.jackson.databind.SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS, true);
    try {
      // Through a plain (sorted) map, since a JsonNode keeps its keys in document order.
      Object tree = canonical.treeToValue(json, Object.class);
      byte[] bytes = canonical.writeValueAsBytes(tree);
      return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(bytes));
    } catch (IOException | java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException("cannot hash the tokenizer: " + e.getMessage(), e);
    }
  }

  /** The SHA-256 of the tokenizer JSON in canonical form ({@link #canonicalSha256}). */
  public String sha256() {
    return sha256;
  }

  private static long idOf(HuggingFaceTokenizer tokenizer, String token) {
    Encoding encoding = tokenizer.encode(token, false, false);
    long[] ids = encoding.getIds();
    if (ids.length != 1) {
      throw new IllegalArgumentException("tokenizer has no single token for special token '" + token + "'");
    }
    return ids[0];
  }

  /** The prompt's token ids (without the separator). */
  public long[] encodePrompt(String prompt) {
    return tokenizer.encode(prompt, false, false).getIds();
  }

  /**
   * Empty if the prompt can be generated from; otherwise why not, naming the field "prompt".
   */
  public Optional<String> checkPrompt(String prompt) {
    if (prompt == null || prompt.isBlank()) {
      return Optional.of("prompt: must not be empty");
    }
    // Tokenizing costs more than the prompt's length (about 4 s for 800,000 characters on the
    // bundled small model): a prompt far longer than the limit is first judged on a prefix cut at a
    // space, whose tokens are the prompt's first tokens. Over the limit there, it is over it whole.
    int prefixChars = maxPromptTokens * PREFIX_CHARS_PER_TOKEN + 64;
    if (prompt.length() > 2 * prefixChars) {
      int cut = prompt.lastIndexOf(' ', prefixChars);
      if (cut > 0) {
        Encoded head = encoded(prompt.substring(0, cut));
        if (head.unknown().isPresent()) {
          return head.unknown();
        }
        if (head.tokens() > maxPromptTokens) {
          return Optional.of("prompt: more than " + maxPromptTokens + " tokens (its first " + cut + " of "
              + prompt.length() + " characters alone are " + head.tokens() + " tokens), over the model's limit of "
              + maxPromptTokens + " (context length minus room for the output)");
        }
      }
    }
    Encoded whole = encoded(prompt);
    if (whole.unknown().isPresent()) {
      return whole.unknown();
    }
    if (whole.tokens() > maxPromptTokens) {
      return Optional.of("prompt: " + whole.tokens() + " tokens is over the model's limit of " + maxPromptTokens
          + " (context length minus room for the output)");
    }
    return Optional.empty();
  }

  /** A text's token count, and the first character the tokenizer cannot encode, if any. */
  private record Encoded(Optional<String> unknown, int tokens) {}

  private Encoded encoded(String text) {
    Encoding encoding = tokenizer.encode(text, false, false);
    long[] ids = encoding.getIds();
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] == unk) {
        var spans = encoding.getCharTokenSpans();
        String bad = spans != null && i < spans.length && spans[i] != null
            ? codePoints(text, spans[i].getStart(), spans[i].getEnd()) : null;
        if (bad == null) {
          bad = encoding.getTokens()[i];
        }
        return new Encoded(Optional.of("prompt: character '" + bad + "' (U+" + String.format("%04X", bad.codePointAt(0))
            + ") cannot be encoded by this model's tokenizer"), ids.length);
      }
    }
    return new Encoded(Optional.empty(), ids.length);
  }

  /**
   * The code points {@code start} (inclusive) to {@code end} of {@code text}: the tokenizer's offsets
   * count code points, where a String's indices count UTF-16 units (two for a character outside the
   * Basic Multilingual Plane, such as an emoji). Null when the span is empty or outside the text.
   */
  static String codePoints(String text, int start, int end) {
    if (start < 0 || start >= end || end > text.codePointCount(0, text.length())) {
      return null;
    }
    int from = text.offsetByCodePoints(0, start);
    return text.substring(from, text.offsetByCodePoints(from, end - start));
  }

  /** The text of generated token ids: tokens joined by single spaces, special tokens left out. */
  public String decode(int[] tokens) {
    long[] ids = new long[tokens.length];
    for (int i = 0; i < tokens.length; i++) {
      ids[i] = tokens[i];
    }
    return tokenizer.decode(ids, true);
  }

  /** The ids of a reference text (tokens separated by single spaces): the inverse of {@link #decode}. */
  public int[] encodeReference(String reference) {
    String[] parts = reference.split(" ");
    int[] ids = new int[parts.length];
    for (int i = 0; i < parts.length; i++) {
      Integer id = vocabulary.get(parts[i]);
      ids[i] = id == null ? (int) unk : id;
    }
    return ids;
  }

  public long padId() {
    return pad;
  }

  public long sepId() {
    return sep;
  }

  public long eosId() {
    return eos;
  }

  /** The vocabulary size as the tokenizer's model declares it (a word-level vocabulary), 0 when not declared. */
  public int vocabularySize() {
    return vocabulary.size();
  }

  public int maxPromptTokens() {
    return maxPromptTokens;
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
