package dev.cascade.router.routing;

import dev.cascade.models.TextGenerator;
import dev.cascade.router.escalation.EscalationClient;
import dev.cascade.router.escalation.EscalationTiers;
import dev.cascade.schemas.avro.CascadeRequest;
import java.util.Optional;

/**
 * Checks a decoded request before it reaches the small model. A problem is reported as text
 * naming the field, and the request goes to the dead-letter topic with it.
 */
public final class RequestValidator {

  /** Longest request id accepted. */
  public static final int MAX_REQUEST_ID_LENGTH = 128;
  /** Most tokens a request may ask for. */
  public static final int MAX_NEW_TOKENS_LIMIT = 512;
  private static final int MAX_METADATA_ENTRIES = 32;

  private final TextGenerator smallModel;
  private final EscalationTiers laterTiers;

  /** Checks against the small model's limits only. */
  public RequestValidator(TextGenerator smallModel) {
    this(smallModel, null);
  }

  /**
   * Checks against the small model's limits and those of the models after it that can be checked
   * here ({@link EscalationTiers#promptProblem}).
   *
   * @param laterTiers the models after the small one, or null for none
   */
  public RequestValidator(TextGenerator smallModel, EscalationTiers laterTiers) {
    this.smallModel = smallModel;
    this.laterTiers = laterTiers;
  }

  /**
   * How many middle tiers the cascade has (the models after the small one but the last): 0 for two
   * models; empty when this validator was not given the later tiers.
   */
  public java.util.OptionalInt middleTiers() {
    return laterTiers == null ? java.util.OptionalInt.empty() : java.util.OptionalInt.of(laterTiers.count() - 1);
  }

  /** How many tokens the small model reads for {@code prompt}; empty when it cannot say. */
  public java.util.OptionalInt promptTokens(String prompt) {
    return smallModel.promptTokens(prompt);
  }

  /** The small model's own limit on tokens per answer. */
  public int modelMaxNewTokens() {
    return smallModel.info().maxNewTokensLimit();
  }

  /**
   * The limit on tokens per answer of the cascade's model {@code tier}: the small model's own for
   * 0; for a later tier, its configured or server-said limit ({@link EscalationClient#knownMaxNewTokens}),
   * empty while unknown, and when this validator was not given the later tiers.
   */
  public java.util.OptionalInt modelMaxNewTokens(int tier) {
    if (tier == 0) {
      return java.util.OptionalInt.of(modelMaxNewTokens());
    }
    return laterTiers == null || tier < 1 || tier > laterTiers.count() ? java.util.OptionalInt.empty()
        : laterTiers.tier(tier).client().knownMaxNewTokens();
  }

  /**
   * Empty when a non-empty {@code id} can be a request id; otherwise what is wrong with it, naming
   * {@code field}: longer than {@link #MAX_REQUEST_ID_LENGTH} characters, or holding a control
   * character (U+0000 to U+001F, U+007F to U+009F: a line break, a tab...), since a request id is
   * written into log lines, HTTP headers ({@code x-request-id}, to an OpenAI-compatible large model)
   * and is the key of its Kafka records. The character is named by its code point, not shown.
   */
  public static Optional<String> requestIdProblem(String id, String field) {
    if (id.length() > MAX_REQUEST_ID_LENGTH) {
      return Optional.of(field + ": longer than " + MAX_REQUEST_ID_LENGTH + " characters (" + id.length() + ")");
    }
    int[] codePoints = id.codePoints().toArray();
    for (int i = 0; i < codePoints.length; i++) {
      if (Character.isISOControl(codePoints[i])) {
        return Optional.of(field + ": must not contain a control character, has U+"
            + String.format("%04X", codePoints[i]) + " at character " + i);
      }
    }
    return Optional.empty();
  }

  /** Empty when the request can be routed; otherwise what is wrong with it. */
  public Optional<String> problem(CascadeRequest request) {
    String id = request.getRequestId();
    if (id == null || id.isBlank()) {
      return Optional.of("request_id: must not be empty");
    }
    Optional<String> idProblem = requestIdProblem(id, "request_id");
    if (idProblem.isPresent()) {
      return idProblem;
    }
    int max = request.getMaxNewTokens();
    if (max < 0 || max > MAX_NEW_TOKENS_LIMIT) {
      return Optional.of("max_new_tokens: must be 0 (the default) to " + MAX_NEW_TOKENS_LIMIT + ", was " + max);
    }
    if (request.getMetadata() != null && request.getMetadata().size() > MAX_METADATA_ENTRIES) {
      return Optional.of("metadata: more than " + MAX_METADATA_ENTRIES + " entries (" + request.getMetadata().size()
          + (request.getMetadata().containsKey("user") || request.getMetadata().containsKey("safety_identifier")
              ? ", counting an OpenAI request's user and safety_identifier" : "") + ")");
    }
    if (request.getPrompt() == null) {
      return Optional.of("prompt: missing");
    }
    java.util.List<dev.cascade.schemas.avro.ChatMessage> messages = request.getMessages();
    for (int i = 0; messages != null && i < messages.size(); i++) {
      String role = messages.get(i).getRole();
      if (!role.equals("system") && !role.equals("user") && !role.equals("assistant")) {
        return Optional.of("messages[" + i + "].role: must be system, user or assistant (the conversation a later"
            + " tier is sent), was '" + role + "'");
      }
    }
    return promptProblem(request.getPrompt());
  }

  /**
   * Empty when every model can take {@code prompt}; otherwise why not, naming the field {@code
   * prompt} (over a model's limit: {@link TextGenerator#overTokenLimit}).
   */
  public Optional<String> promptProblem(String prompt) {
    Optional<String> problem = smallModel.checkPrompt(prompt);
    if (problem.isPresent() || laterTiers == null) {
      return problem;
    }
    Optional<String> sha = smallModel.tokenizerSha256();
    return sha.isEmpty() ? Optional.empty() : laterTiers.promptProblem(sha.get(),
        smallModel.maxPromptTokens().orElse(Integer.MAX_VALUE), () -> smallModel.promptTokens(prompt));
  }
}
