package dev.cascade.router.cli;

import dev.cascade.proto.v1.CascadeGrpc;
import dev.cascade.proto.v1.FeedbackRequest;
import dev.cascade.proto.v1.FeedbackResponse;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** A command-line client of {@code Cascade.SubmitFeedback}. */
@Command(name = "feedback", mixinStandardHelpOptions = true,
    description = {"Records feedback on an answer a running router served (Cascade.SubmitFeedback), for the online"
        + " learner: whether it was right (--correct or --wrong), the right answer (--corrected-text), or both.",
        "The router writes it to the feedback topic keyed by the request id; `cascade learn` joins it with that"
            + " request's outcome within learn.feedback-window-ms.",
        "Prints where it was written (topic, partition, offset). Exit code 1 when the call fails (the gRPC status is"
            + " printed)."})
final class FeedbackCommand implements Callable<Integer> {

  @Mixin
  TargetOption target;

  @Option(names = "--request-id", paramLabel = "ID",
      description = "The id of the request whose answer is judged (ask prints it as request_id).")
  String requestId;

  @Option(names = "--data", paramLabel = "FILE.jsonl",
      description = "Instead of one --request-id: one feedback per line, {\"request_id\": ..., \"correct\": true|false,"
          + " \"corrected_text\": ..., \"source\": ...} (correct, corrected_text or both; source defaults to --source),"
          + " sent one after another; prints how many were written and, on standard error, each refused line with"
          + " its status. Exit code 1 when any was refused.")
  java.nio.file.Path data;

  @ArgGroup(exclusive = true)
  Verdict verdict;

  static final class Verdict {
    @Option(names = "--correct", description = "The served answer was right.")
    boolean correct;

    @Option(names = "--wrong", description = "The served answer was wrong.")
    boolean wrong;
  }

  @Option(names = "--corrected-text", paramLabel = "TEXT",
      description = "The right answer, in the same form as the model's; both models' answers are judged against it.")
  String correctedText;

  @Option(names = "--source", paramLabel = "NAME", defaultValue = "cli",
      description = "Who judged: a user id, an evaluator, a labelling job (default: ${DEFAULT-VALUE}).")
  String source;

  @Option(names = "--deadline-ms", paramLabel = "N", defaultValue = "30000",
      description = "The call's deadline in milliseconds (default: ${DEFAULT-VALUE}).")
  long deadlineMs;

  @Option(names = "--api-key", paramLabel = "KEY", defaultValue = "${env:CASCADE_API_KEY}",
      description = "The API key, for a router with api.keys-file (default: the CASCADE_API_KEY environment variable).")
  String apiKey;

  @Spec
  CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    if (deadlineMs < 1) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(),
          "--deadline-ms: must be at least 1, was " + deadlineMs);
    }
    if (source.isBlank()) {
      // Sent empty, the door would record its own name (grpc) instead.
      throw new picocli.CommandLine.ParameterException(spec.commandLine(),
          "--source: must name who judged (default: cli), not be empty");
    }
    if (data != null) {
      if (requestId != null || verdict != null || correctedText != null) {
        throw new picocli.CommandLine.ParameterException(spec.commandLine(),
            "--data: the feedback comes from the file; leave out --request-id,"
            + " --correct, --wrong and --corrected-text");
      }
      return sendFile();
    }
    if (requestId == null) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(), "give --request-id ID (or --data FILE.jsonl)");
    }
    if (verdict == null && correctedText == null) {
      throw new picocli.CommandLine.ParameterException(spec.commandLine(),
          "give --correct, --wrong or --corrected-text (or a verdict and the text)");
    }
    if (correctedText != null && correctedText.isBlank()) {
      // The router refuses it too, after the call; an empty answer is no correction.
      throw new picocli.CommandLine.ParameterException(spec.commandLine(),
          "--corrected-text: must not be blank when given (leave it out to give only --correct or --wrong)");
    }
    FeedbackRequest.Builder request = FeedbackRequest.newBuilder().setRequestId(requestId).setSource(source);
    if (verdict != null) {
      request.setCorrect(verdict.correct);
    }
    if (correctedText != null) {
      request.setCorrectedText(correctedText);
    }
    return target.call(spec.commandLine().getErr(), channel -> {
      CascadeGrpc.CascadeBlockingStub stub = AskCommand.withApiKey(CascadeGrpc.newBlockingStub(channel), apiKey);
      FeedbackResponse written = stub.withDeadlineAfter(deadlineMs, TimeUnit.MILLISECONDS)
          .submitFeedback(request.build());
      spec.commandLine().getOut().println("feedback for " + written.getRequestId() + " written to "
          + written.getTopic() + " partition " + written.getPartition() + " offset " + written.getOffset());
      spec.commandLine().getOut().flush();
      return 0;
    });
  }

  /**
   * Sends every line of {@link #data}; a line that is not a feedback object is refused here, naming
   * it. A file that cannot be read, is not UTF-8 or holds no lines is refused before any call.
   */
  private int sendFile() throws Exception {
    java.util.List<String> lines;
    try {
      lines = dev.cascade.router.demo.Examples.readLines(data);
    } catch (java.io.UncheckedIOException e) {
      throw new IllegalArgumentException(RuntimeCommand.readProblem(data, e.getCause()), e);
    }
    if (lines.stream().allMatch(String::isBlank)) {
      throw new IllegalArgumentException(data + ": holds no items");
    }
    com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
    java.io.PrintWriter err = spec.commandLine().getErr();
    return target.call(err, channel -> {
      CascadeGrpc.CascadeBlockingStub stub = AskCommand.withApiKey(CascadeGrpc.newBlockingStub(channel), apiKey);
      int written = 0;
      int refused = 0;
      for (int i = 0; i < lines.size(); i++) {
        String line = i == 0 && lines.get(0).startsWith("\uFEFF") ? lines.get(0).substring(1) : lines.get(i);
        if (line.isBlank()) {
          continue;
        }
        FeedbackRequest request;
        try {
          request = parse(json.readTree(line));
        } catch (com.fasterxml.jackson.core.JsonProcessingException | IllegalArgumentException e) {
          err.println(data + " line " + (i + 1) + ": " + (e instanceof IllegalArgumentException ? e.getMessage()
              : "not valid JSON: "
                  + dev.cascade.models.JsonProblem.of((com.fasterxml.jackson.core.JsonProcessingException) e)));
          refused++;
          continue;
        }
        try {
          stub.withDeadlineAfter(deadlineMs, TimeUnit.MILLISECONDS).submitFeedback(request);
          written++;
        } catch (io.grpc.StatusRuntimeException e) {
          err.println(data + " line " + (i + 1) + ": " + e.getStatus().getCode() + ": " + e.getStatus().getDescription());
          refused++;
        }
      }
      spec.commandLine().getOut().println(written + (written == 1 ? " feedback record" : " feedback records")
          + " written, " + refused + " refused");
      spec.commandLine().getOut().flush();
      err.flush();
      return refused == 0 ? 0 : 1;
    });
  }

  /** The fields of a line of {@code --data}. */
  private static final List<String> FIELDS = List.of("request_id", "correct", "corrected_text", "source");

  private FeedbackRequest parse(com.fasterxml.jackson.databind.JsonNode node) {
    if (!node.isObject()) {
      throw new IllegalArgumentException("not a JSON object");
    }
    for (java.util.Iterator<String> names = node.fieldNames(); names.hasNext(); ) {
      String name = names.next();
      if (!FIELDS.contains(name)) {
        // A misspelt field (corrected, requestId) would be dropped and the feedback sent without it.
        throw new IllegalArgumentException("unknown field '" + name + "' (a feedback line has "
            + String.join(", ", FIELDS) + ")");
      }
    }
    FeedbackRequest.Builder request = FeedbackRequest.newBuilder().setRequestId(node.path("request_id").asText(""))
        .setSource(node.hasNonNull("source") ? node.get("source").asText() : source);
    if (node.hasNonNull("correct")) {
      if (!node.get("correct").isBoolean()) {
        throw new IllegalArgumentException("correct: must be true or false");
      }
      request.setCorrect(node.get("correct").booleanValue());
    }
    if (node.hasNonNull("corrected_text")) {
      request.setCorrectedText(node.get("corrected_text").asText());
    }
    return request.build();
  }
}
