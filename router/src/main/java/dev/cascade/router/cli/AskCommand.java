package dev.cascade.router.cli;

import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.GenerateRequest;
import dev.cascade.proto.v1.GenerateResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** A command-line client of {@code Cascade.Generate}. */
@Command(name = "ask", mixinStandardHelpOptions = true,
    description = {"Sends one prompt to a running router over gRPC (Cascade.Generate) and prints the answer.",
        "The answer goes to standard output; who served it, the score and the latency to standard error.",
        "Exit code 1 when the call fails (the gRPC status is printed)."})
final class AskCommand implements Callable<Integer> {

  @Mixin
  TargetOption target;

  @Option(names = "--prompt", required = true, paramLabel = "TEXT", description = "The prompt.")
  String prompt;

  @Option(names = "--json", description = "Print the whole response as JSON (proto field names) instead.")
  boolean json;

  @Option(names = "--max-new-tokens", paramLabel = "N", defaultValue = "0",
      description = "Most tokens to generate; 0 means the router's default (default: ${DEFAULT-VALUE}).")
  int maxNewTokens;

  @Option(names = "--deadline-ms", paramLabel = "N", defaultValue = "30000",
      description = "The call's deadline in milliseconds (default: ${DEFAULT-VALUE}).")
  long deadlineMs;

  @Option(names = "--request-id", paramLabel = "ID", description = "The request's id (default: one the router assigns).")
  String requestId;

  @Option(names = "--bypass-cache", description = "Do not answer from the router's response cache.")
  boolean bypassCache;

  @Option(names = "--reference", paramLabel = "TEXT",
      description = "The right answer, if you know it: copied into the outcome record, where it scores the cascade and labels"
          + " the request for the learner. Never shown to a model.")
  String reference;

  @Option(names = "--metadata", paramLabel = "KEY=VALUE", converter = KeyValue.Converter.class,
      description = "Metadata carried into the outcome record; repeatable.")
  List<KeyValue> metadata = new ArrayList<>();

  @Option(names = "--api-key", paramLabel = "KEY", defaultValue = "${env:CASCADE_API_KEY}",
      description = "The API key, for a router with api.keys-file (default: the CASCADE_API_KEY environment variable).")
  String apiKey;

  @Spec
  CommandSpec spec;

  /** The stub, sending {@code authorization: Bearer KEY} when a key is given. */
  static CascadeGrpc.CascadeBlockingStub withApiKey(CascadeGrpc.CascadeBlockingStub stub, String apiKey) {
    if (apiKey == null || apiKey.isBlank()) {
      return stub;
    }
    io.grpc.Metadata headers = new io.grpc.Metadata();
    headers.put(io.grpc.Metadata.Key.of("authorization", io.grpc.Metadata.ASCII_STRING_MARSHALLER),
        "Bearer " + apiKey.strip());
    return stub.withInterceptors(io.grpc.stub.MetadataUtils.newAttachHeadersInterceptor(headers));
  }

  @Override
  public Integer call() throws Exception {
    if (deadlineMs < 1) {
      throw new IllegalArgumentException("--deadline-ms: must be at least 1, was " + deadlineMs);
    }
    GenerateRequest.Builder request = GenerateRequest.newBuilder().setPrompt(prompt).setMaxNewTokens(maxNewTokens)
        .setBypassCache(bypassCache).putAllMetadata(KeyValue.toMap(metadata));
    if (requestId != null) {
      request.setRequestId(requestId);
    }
    if (reference != null) {
      request.setReference(reference);
    }
    return target.call(spec.commandLine().getErr(), channel -> {
      GenerateResponse response = withApiKey(CascadeGrpc.newBlockingStub(channel), apiKey)
          .withDeadlineAfter(deadlineMs, TimeUnit.MILLISECONDS)
          .generate(request.build());
      if (json) {
        spec.commandLine().getOut().println(PolicyCommand.json(response, true));
      } else {
        spec.commandLine().getOut().println(response.getText());
        spec.commandLine().getErr().println(String.format(Locale.ROOT,
            "served_by=%s%s served_tier=%d%s%s rule=%s score=%.4f threshold=%.4f policy_version=%d cache_hit=%s"
                + " total_ms=%.1f request_id=%s",
            response.getServedBy(), response.getStoppedEarly() ? " stopped_early=true" : "", response.getServedTier(),
            response.getServedModel().isEmpty() ? "" : " served_model=" + response.getServedModel(),
            response.getDecision() == dev.cascade.proto.v1.Decision.DECISION_UNSPECIFIED ? ""
                : " decision=" + response.getDecision(),
            response.getRule() + (response.hasRuleVersion() ? "@" + response.getRuleVersion() : ""),
            response.getDeferralScore(), response.getThreshold(),
            response.getPolicyVersion(), response.getCacheHit(), response.getLatencies().getTotalMs(),
            response.getRequestId()));
        if (response.getStoppedEarly()) {
          spec.commandLine().getErr().println("note: the answer is unfinished: the small model was stopped early"
              + " (early deferral) and no model above it answered; its routing outcome's degraded_reason"
              + " (topic.outcomes, request id " + response.getRequestId() + ") says why");
        }
        for (dev.cascade.proto.v1.SkippedTier t : response.getSkippedTiersList()) {
          spec.commandLine().getErr().println(String.format(Locale.ROOT, "skipped tier %d (%s), %s: %s", t.getTier(),
              t.getModel(), t.getCause(), t.getReason()));
        }
      }
      spec.commandLine().getOut().flush();
      spec.commandLine().getErr().flush();
      return 0;
    });
  }
}
