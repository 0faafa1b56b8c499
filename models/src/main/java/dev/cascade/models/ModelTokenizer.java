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
 * <p>The model's sequences are: its input (by default the prompt's tokens then the separator;
 * with a prompt template, the template's text with the prompt in place of {@code {prompt}},
 * encoded whole, its special tokens such as {@code <|im_start|>} included), output tokens,
 * end-of-sequence. The separator, end-of-sequence, padding and unknown tokens are looked up by
 * name in the tokenizer's vocabulary ({@code <sep>}, {@code <eos>}, {@code <pad>}, {@code <unk>}
 * unless told otherwise). A tokenizer without {@code <pad>} pads with end-of-sequence (padding is
 * masked out), and one without {@code <unk>} (a byte-level BPE encodes every character) has no
 * unknown token, unless the names were given; a template needs no separator. Decoding is the
 * tokenizer's own (the bundled word-level ones join output tokens with single spaces, which is the
 * reference form of the data). Thread-safe: the native tokenizer is immutable once loaded.
 */
public final class ModelTokenizer implements AutoCloseable {

  /**
   * The names of the special tokens; a null name is not given: {@code <pad>} where the tokenizer
   * has it, else end-of-sequence; {@code <sep>} (not looked up under a prompt template); {@code
   * <eos>}; {@code <unk>} where the tokenizer has it, else none. A name given must be one token.
   */
  public record SpecialTokens(String pad, String sep, String eos, String unk, java.util.List<String> moreEos) {
    public static final SpecialTokens DEFAULT = new SpecialTokens("<pad>", "<sep>", "<eos>", "<unk>");
    /** Every name left to its default. */
    public static final SpecialTokens UNSET = new SpecialTokens(null, null, null, null);

    /**
     * @param moreEos tokens that also end an answer, beside {@code eos} (a chat model that ends a
     *     turn with one and a text with another); the answer leaves them out as it does {@code eos}
     */
    public SpecialTokens {
      moreEos = java.util.List.copyOf(moreEos);
    }

    /** Names with end-of-sequence alone ending an answer. */
    public SpecialTokens(String pad, String sep, String eos, String unk) {
      this(pad, sep, eos, unk, java.util.List.of());
    }
  }

  /** The placeholder a prompt template holds once, where the prompt goes. */
  public static final String PROMPT_PLACEHOLDER = "{prompt}";

  private final HuggingFaceTokenizer tokenizer;
  private final long pad;
  /** The separator after the prompt; -1 under a prompt template. */
  private final long sep;
  private final long eos;
  /** The tokens that end an answer: {@link #eos} first, then {@link SpecialTokens#moreEos()}. */
  private final long[] ends;
  /** The unknown token; -1 for a tokenizer without one. */
  private final long unk;
  /** The template's text before and after the prompt; null without a template. */
  private final String before;
  private final String after;
  /** The most tokens a model input may have (prompt and separator, or the templated prompt). */
  private final int maxInputTokens;
  private final int maxPromptTokens;
  /** Characters per allowed token in the prefix a very long prompt is first judged on; no tokenizer's tokens are this long on average. */
  private static final int PREFIX_CHARS_PER_TOKEN = 32;
  private final Map<String, Integer> vocabulary;
  private final String sha256;

  private ModelTokenizer(HuggingFaceTokenizer tokenizer, Map<String, Integer> vocabulary, SpecialTokens special,
      String promptTemplate, int maxPromptTokens, String sha256) {
    this.tokenizer = tokenizer;
    this.sha256 = sha256;
    this.vocabulary = Map.copyOf(vocabulary);
    this.eos = idOf(tokenizer, "eos", special.eos(), "<eos>");
    this.ends = new long[1 + special.moreEos().size()];
    ends[0] = eos;
    for (int i = 0; i < special.moreEos().size(); i++) {
      ends[i + 1] = idOf(tokenizer, "eos", special.moreEos().get(i), null);
    }
    this.pad = special.pad() != null ? idOf(tokenizer, "pad", special.pad(), null)
        : optionalId(tokenizer, "<pad>").orElse(eos);
    this.unk = special.unk() != null ? idOf(tokenizer, "unk", special.unk(), null)
        : optionalId(tokenizer, "<unk>").orElse(-1L);
    if (promptTemplate == null) {
      this.sep = idOf(tokenizer, "sep", special.sep(), "<sep>");
      this.before = null;
      this.after = null;
      this.maxInputTokens = maxPromptTokens == Integer.MAX_VALUE ? maxPromptTokens : maxPromptTokens + 1;
      this.maxPromptTokens = maxPromptTokens;
    } else {
      int at = promptTemplate.indexOf(PROMPT_PLACEHOLDER);
      if (at < 0 || promptTemplate.indexOf(PROMPT_PLACEHOLDER, at + 1) >= 0) {
        throw new IllegalArgumentException("prompt_template: must hold " + PROMPT_PLACEHOLDER
            + " once, where the prompt goes; was \"" + promptTemplate + "\"");
      }
      this.sep = -1;
      this.before = promptTemplate.substring(0, at);
      this.after = promptTemplate.substring(at + PROMPT_PLACEHOLDER.length());
      this.maxInputTokens = maxPromptTokens == Integer.MAX_VALUE ? maxPromptTokens : maxPromptTokens + 1;
      int overhead = tokenizer.encode(before + after, false, false).getIds().length;
      if (overhead >= maxInputTokens) {
        throw new IllegalArgumentException("prompt_template: its own " + overhead + " tokens leave no room for a"
            + " prompt in the model's input limit of " + maxInputTokens + " (context length minus room for the output)");
      }
      this.maxPromptTokens = maxPromptTokens == Integer.MAX_VALUE ? maxPromptTokens : maxInputTokens - overhead;
    }
  }

  /**
   * Loads {@code tokenizer.json}, without a prompt template.
   *
   * @param maxPromptTokens the longest prompt, in tokens, that the model's context leaves room for
   *     beside the separator and the output
   */
  public static ModelTokenizer load(Path tokenizerJson, SpecialTokens special, int maxPromptTokens)
      throws IOException {
    return load(tokenizerJson, special, null, maxPromptTokens);
  }

  /**
   * Loads {@code tokenizer.json}; with {@code promptTemplate} (null for none), a model input is the
   * template with the prompt in place of {@link #PROMPT_PLACEHOLDER}, and no separator.
   *
   * @param maxPromptTokens the model's input limit less one (context length minus room for the
   *     output, minus the separator); under a template, the prompt's limit is the input limit less
   *     the template's own tokens
   * @throws IllegalArgumentException for a template without the placeholder once, or whose own
   *     tokens fill the input limit, or a special token the tokenizer does not have
   */
  public static ModelTokenizer load(Path tokenizerJson, SpecialTokens special, String promptTemplate,
      int maxPromptTokens) throws IOException {
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
    try {
      return new ModelTokenizer(hf, vocabulary, special, promptTemplate, maxPromptTokens, canonicalSha256(json));
    } catch (RuntimeException e) {
      hf.close();
      throw e;
    }
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

  /**
   * The id of the special token {@code field} ({@code eos}, ...): named {@code given}, or when that
   * is null, {@code fallback}. A message that starts {@code special_tokens.} is about the card's
   * names; one that starts {@code the tokenizer has no}, about a default the tokenizer lacks.
   */
  private static long idOf(HuggingFaceTokenizer tokenizer, String field, String given, String fallback) {
    String token = given != null ? given : fallback;
    return optionalId(tokenizer, token).orElseThrow(() -> new IllegalArgumentException(given != null
        ? "special_tokens." + field + ": '" + token + "' is not one token of this tokenizer"
        : "the tokenizer has no '" + token + "' token (the default " + field + "); name its " + field
            + " token in card.json's special_tokens" + (field.equals("sep")
                ? ", or give a prompt_template there (a chat model's turn markers around {prompt})" : "")));
  }

  /** The id of {@code token} when the tokenizer encodes it as one special (added) token. */
  private static Optional<Long> optionalId(HuggingFaceTokenizer tokenizer, String token) {
    Encoding encoding = tokenizer.encode(token, false, false);
    long[] ids = encoding.getIds();
    if (ids.length != 1) {
      return Optional.empty();
    }
    return Optional.of(ids[0]);
  }

  /** The prompt's token ids (without the separator, outside any template). */
  public long[] encodePrompt(String prompt) {
    return tokenizer.encode(prompt, false, false).getIds();
  }

  /**
   * The model's input for a prompt: the prompt's ids then the separator, or, under a prompt
   * template, the template with the prompt in place, encoded whole.
   */
  public long[] encodeInput(String prompt) {
    if (before != null) {
      return tokenizer.encode(before + prompt + after, false, false).getIds();
    }
    long[] ids = encodePrompt(prompt);
    long[] input = java.util.Arrays.copyOf(ids, ids.length + 1);
    input[ids.length] = sep;
    return input;
  }

  /** Whether a prompt template frames the prompt (and no separator follows it). */
  public boolean templated() {
    return before != null;
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
          + " (context length minus room for the output" + (before != null ? " and the prompt template" : "") + ")");
    }
    if (before != null && maxInputTokens != Integer.MAX_VALUE) {
      // Tokens can merge across the template's edges: the input as the model gets it decides.
      int input = encodeInput(prompt).length;
      if (input > maxInputTokens) {
        return Optional.of("prompt: " + input + " tokens in the model's prompt template is over the model's input"
            + " limit of " + maxInputTokens + " (context length minus room for the output)");
      }
    }
    return Optional.empty();
  }

  /** A text's token count, and the first character the tokenizer cannot encode, if any. */
  private record Encoded(Optional<String> unknown, int tokens) {}

  private Encoded encoded(String text) {
    Encoding encoding = tokenizer.encode(text, false, false);
    long[] ids = encoding.getIds();
    for (int i = 0; i < ids.length && unk >= 0; i++) {
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

  /** The separator after the prompt; -1 under a prompt template, which has none. */
  public long sepId() {
    return sep;
  }

  public long eosId() {
    return eos;
  }

  /** The tokens that end an answer: end-of-sequence first, then any other the card names. */
  public long[] endIds() {
    return ends.clone();
  }

  /** The vocabulary size as the tokenizer's model declares it (a word-level vocabulary), 0 when not declared. */
  public int vocabularySize() {
    return vocabulary.size();
  }

  /** The most tokens a prompt may have (under a template, the input limit less the template's own tokens). */
  public int maxPromptTokens() {
    return maxPromptTokens;
  }

  @Override
  public void close() {
    tokenizer.close();
  }
}
