package dev.cascade.router.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cascade.models.EngineUnavailableException;
import dev.cascade.router.api.CommandLineRun;
import dev.cascade.router.learning.CascadeAnswers;
import dev.cascade.router.learning.PromptItem;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * How the command line refuses what it cannot do: a command line it does not understand in two
 * lines (the error, where the help is), everything else in one, exit code 2 for bad input, and
 * never a stack trace; output paths and option values before any model runs.
 */
class CliErrorsTest {

  @TempDir
  Path dir;

  private Path data;
  private Path file;

  @BeforeEach
  void files() throws IOException {
    data = dir.resolve("d.jsonl");
    Files.write(data, List.of("{\"prompt\": \"cat\", \"reference\": \"k ' a t\"}"));
    file = dir.resolve("file.jsonl");
    Files.writeString(file, "");
  }

  private static List<String> lines(String text) {
    return text.strip().lines().toList();
  }

  /** Refused with exit code 2 and exactly {@code error: MESSAGE} then {@code try './cascade COMMAND --help'}. */
  private static String parseError(String command, String... args) {
    CommandLineRun run = CommandLineRun.of(args);
    assertThat(run.exitCode()).as(run.err()).isEqualTo(2);
    List<String> lines = lines(run.err());
    assertThat(lines).as(run.err()).hasSize(2);
    assertThat(lines.get(0)).startsWith("error: ");
    assertThat(lines.get(1)).isEqualTo("try './cascade " + (command.isEmpty() ? "" : command + " ") + "--help'");
    assertThat(run.out()).isEmpty();
    return lines.get(0);
  }

  /** Refused with exit code 2 and one line, {@code error: ...}. */
  private static String oneLine(String... args) {
    CommandLineRun run = CommandLineRun.of(args);
    assertThat(run.exitCode()).as(run.err()).isEqualTo(2);
    assertThat(lines(run.err())).as(run.err()).hasSize(1);
    assertThat(run.err()).startsWith("error: ").doesNotContain("Exception").doesNotContain("\tat ");
    return run.err().strip();
  }

  @Test
  void aCommandLineNotUnderstoodIsTwoLinesNotTheUsage() {
    assertThat(parseError("eval", "eval", "--resamples", "abc"))
        .isEqualTo("error: Invalid value for option '--resamples': 'abc' is not an int");
    assertThat(parseError("eval", "eval", "--resamples", "10")).startsWith("error: Missing required argument")
        .contains("--data");
    assertThat(parseError("rules get", "rules", "get", "posthoc-quantile@99999999999999999999", "--target",
        "127.0.0.1:20601")).startsWith("error: NAME[@VERSION]: ");
    assertThat(parseError("rules publish", "rules", "publish", data.toString(), "--version", "-4", "--token", "t",
        "--target", "127.0.0.1:20601")).isEqualTo("error: --version: must be 1 or more (or 0 for the next), was -4");
    assertThat(parseError("eval", "eval", "--data", data.toString(), "--resampels", "3"))
        .startsWith("error: Unknown options: '--resampels', '3'").contains("did you mean").contains("--resamples");
    assertThat(parseError("generate", "generate", "--model", dir.toString(), "--prompt", "cat"))
        .isEqualTo("error: Invalid value for option '--model': '" + dir + "' is neither a bundled model [small, medium,"
            + " large] nor a directory with model.onnx");
    assertThat(parseError("bench model", "bench", "model", "--model", "smal"))
        .startsWith("error: Invalid value for option '--model': 'smal' is neither a bundled model");
    for (List<String> args : List.of(List.of("generate", "--prompt", "cat"), List.of("large-model"),
        List.of("eval", "--data", data.toString()))) {
      List<String> line = new java.util.ArrayList<>(args);
      line.addAll(List.of("--engine", "onnx-runtime"));
      assertThat(parseError(args.get(0), line.toArray(String[]::new))).as(args.toString()).isEqualTo("error: Invalid"
          + " value for option '--engine': 'onnx-runtime' is not one of OnnxRuntime, TensorRT, auto");
    }
    assertThat(parseError("", "evaluate").replace("error: ", ""))
        .startsWith("Unmatched argument at index 0: 'evaluate'");
  }

  @Test
  void aGroupOfCommandsRunWithoutOneShowsItsUsageOnStderrAndFails() {
    for (List<String> args : List.of(List.<String>of(), List.of("policy"), List.of("rules"), List.of("bench"))) {
      CommandLineRun run = CommandLineRun.of(args.toArray(String[]::new));
      assertThat(run.exitCode()).as(run.err()).isEqualTo(2);
      assertThat(run.out()).as("a script reading stdout gets nothing").isEmpty();
      assertThat(run.err()).as(args.toString()).startsWith("Usage: cascade" + (args.isEmpty() ? "" : " " + args.get(0)));
      assertThat(lines(run.err()).get(lines(run.err()).size() - 1)).startsWith("error: missing a command (one of: ");
    }
    assertThat(lines(CommandLineRun.of("policy").err())).last().isEqualTo("error: missing a command (one of: get, set, watch)");
    CommandLineRun help = CommandLineRun.of("policy", "--help");
    assertThat(help.exitCode()).isZero();
    assertThat(help.out()).startsWith("Usage: cascade policy");
  }

  @Test
  void aTokenFileThatCannotBeReadIsNamedInOneLine() {
    Path missing = dir.resolve("nope");
    assertThat(parseError("rules publish", "rules", "publish", data.toString(), "--token-file", missing.toString(),
        "--target", "127.0.0.1:20601")).isEqualTo("error: --token-file: " + missing + ": no such file");
    assertThat(parseError("rules publish", "rules", "publish", data.toString(), "--token-file", dir.toString(),
        "--target", "127.0.0.1:20601")).isEqualTo("error: --token-file: " + dir + ": is a directory");
  }

  @Test
  void aTokenFileOthersCanReadIsWarnedAboutOnceAsSshDoes() throws IOException {
    org.junit.jupiter.api.Assumptions.assumeTrue(java.nio.file.FileSystems.getDefault().supportedFileAttributeViews()
        .contains("posix"), "POSIX file permissions");
    Path token = dir.resolve("token");
    Files.writeString(token, "s3cret\n");
    // Read, then refused for another option (exit 2) before any call: the warning comes first, once.
    String[] args = {"policy", "set", "--tier", "-1", "--token-file", token.toString(), "--target", "127.0.0.1:43650"};
    for (String mode : List.of("rw-r--r--", "rw----r--", "r--r-----")) {
      Files.setPosixFilePermissions(token, java.nio.file.attribute.PosixFilePermissions.fromString(mode));
      CommandLineRun run = CommandLineRun.of(args);
      assertThat(run.exitCode()).as(run.err()).isEqualTo(2);
      assertThat(lines(run.err())).as(mode).filteredOn(l -> l.startsWith("warning: ")).containsExactly("warning:"
          + " --token-file " + token + " is readable by group or others (mode " + mode + "): whoever can read it can"
          + " change the router's policy and rules; make it owner-only: chmod 600 " + token);
      assertThat(lines(run.err()).get(1)).startsWith("error: --tier: ");
    }
    for (String mode : List.of("rw-------", "r--------", "rw--w----")) {
      Files.setPosixFilePermissions(token, java.nio.file.attribute.PosixFilePermissions.fromString(mode));
      CommandLineRun run = CommandLineRun.of(args);
      assertThat(run.exitCode()).as(run.err()).isEqualTo(2);
      assertThat(run.err()).as(mode).doesNotContain("warning");
    }
  }

  @Test
  void optionValuesAreNamedByTheirFlagAndRefusedBeforeAnyModelRuns() {
    assertThat(parseError("eval", "eval", "--data", data.toString(), "--resamples", "0"))
        .isEqualTo("error: --resamples: must be at least 1, was 0");
    assertThat(parseError("eval", "eval", "--data", data.toString(), "--batch-size", "0"))
        .isEqualTo("error: --batch-size: must be at least 1, was 0");
    assertThat(parseError("eval", "eval", "--data", data.toString(), "--max-new-tokens", "-1"))
        .isEqualTo("error: --max-new-tokens: must be at least 0 (0 for each model's own limit), was -1");
    Path out = dir.resolve("x.rule");
    assertThat(parseError("train-rule", "train-rule", "--data", data.toString(), "--out", out.toString(), "--folds",
        "1")).isEqualTo("error: --folds: must be at least 2, was 1");
    assertThat(parseError("train-rule", "train-rule", "--data", data.toString(), "--out", out.toString(), "--version",
        "-1")).isEqualTo("error: --version: must be 1 or more (or 0 for the training time), was -1");
    assertThat(parseError("generate", "generate", "--prompt", "cat", "--batch-size", "0"))
        .isEqualTo("error: --batch-size: must be at least 1, was 0");
    assertThat(out).doesNotExist();
  }

  @Test
  void outputPathsAreCheckedBeforeAnyModelRuns() {
    Path underAFile = file.resolve("p.png");
    assertThat(oneLine("eval", "--data", data.toString(), "--json", "--plot", underAFile.toString()))
        .isEqualTo("error: --plot: " + underAFile + ": " + file + " is a file, not a directory");
    assertThat(oneLine("eval", "--data", data.toString(), "--plot", dir.toString()))
        .isEqualTo("error: --plot: " + dir + " is a directory; give a file's path");
    Path svg = dir.resolve("curves.svg");
    assertThat(oneLine("eval", "--data", data.toString(), "--plot", svg.toString()))
        .isEqualTo("error: --plot: " + svg + ": .svg is not an image format this draws; end the path with "
            + ".png, .jpg, .jpeg, .gif or .bmp");
    assertThat(oneLine("demo", "--learn", "--plot", dir.resolve("rate").toString()))
        .isEqualTo("error: --plot: " + dir.resolve("rate") + ": no extension; end the path with "
            + ".png, .jpg, .jpeg, .gif or .bmp");
    assertThat(svg).doesNotExist();
    Path rule = file.resolve("x.rule");
    assertThat(oneLine("train-rule", "--data", data.toString(), "--out", rule.toString()))
        .isEqualTo("error: --out: " + rule + ": " + file + " is a file, not a directory");
    assertThat(oneLine("eval", "--data", data.toString(), "--cache", file.toString()))
        .isEqualTo("error: --cache: " + file + " is a file, not a directory");
    assertThat(oneLine("rules", "get", "posthoc-quantile", "--target", "127.0.0.1:20601", "--out", rule.toString()))
        .isEqualTo("error: --out: " + rule + ": " + file + " is a file, not a directory");
  }

  @Test
  void dataFilesAreRefusedNamingTheFileAndLine() throws IOException {
    Path kind = dir.resolve("kind.jsonl");
    Files.writeString(kind, "{\"prompt\": \"cat\", \"reference\": \"k\"}\n{\"prompt\": \"a\", \"reference\": \"b\", \"kind\": 7}\n");
    assertThat(oneLine("eval", "--data", kind.toString()))
        .isEqualTo("error: " + kind + " line 2: field 'kind' must be a string (or absent), was number");
    Path open = dir.resolve("open.jsonl");
    Files.writeString(open, "{\"prompt\": \"cat\", \"reference\": \"k\"\n");
    assertThat(oneLine("train-rule", "--data", open.toString(), "--out", dir.resolve("x.rule").toString()))
        .isEqualTo("error: " + open + " line 1: not valid JSON: Unexpected end-of-input: expected close marker"
            + " for Object");
  }

  @Test
  void feedbackWithoutAVerdictOrARequestIdIsAUsageError() {
    assertThat(parseError("feedback", "feedback", "--target", "127.0.0.1:20601", "--request-id", "r-1"))
        .isEqualTo("error: give --correct, --wrong or --corrected-text (or a verdict and the text)");
    assertThat(parseError("feedback", "feedback", "--target", "127.0.0.1:20601", "--correct"))
        .isEqualTo("error: give --request-id ID (or --data FILE.jsonl)");
    assertThat(parseError("feedback", "feedback", "--target", "127.0.0.1:20601", "--data", data.toString(),
        "--request-id", "r-1")).startsWith("error: --data: the feedback comes from the file");
    assertThat(parseError("feedback", "feedback", "--target", "127.0.0.1:20601", "--request-id", "r-1", "--correct",
        "--source", "")).isEqualTo("error: --source: must name who judged (default: cli), not be empty");
  }

  @Test
  void feedbackFilesThatAreEmptyNotUtf8OrADirectoryAreRefusedBeforeAnyCall() throws IOException {
    // Nothing listens at the target: each is refused before a connection is tried.
    assertThat(oneLine("feedback", "--target", "127.0.0.1:20601", "--data", file.toString()))
        .isEqualTo("error: " + file + ": holds no items");
    Path blank = dir.resolve("blank.jsonl");
    Files.writeString(blank, "\n  \n");
    assertThat(oneLine("feedback", "--target", "127.0.0.1:20601", "--data", blank.toString()))
        .isEqualTo("error: " + blank + ": holds no items");
    assertThat(oneLine("feedback", "--target", "127.0.0.1:20601", "--data", dir.toString()))
        .isEqualTo("error: " + dir + ": is a directory, not a JSONL file");
    Path latin1 = dir.resolve("latin1.jsonl");
    Files.write(latin1, "{\"request_id\": \"caf\u00e9\", \"correct\": true}\n".getBytes(StandardCharsets.ISO_8859_1));
    assertThat(oneLine("feedback", "--target", "127.0.0.1:20601", "--data", latin1.toString()))
        .isEqualTo("error: " + latin1 + " line 1: not UTF-8 text");
  }

  @Test
  void aPromptAModelRefusesIsNamedByItsFileAndLine() throws IOException {
    Path prompts = dir.resolve("prompts.jsonl");
    Files.writeString(prompts, "{\"prompt\": \"cat\", \"reference\": \"k\"}\n\n{\"prompt\": \"\", \"reference\": \"b\"}\n");
    List<PromptItem> items = PromptItem.readJsonl(prompts);
    Throwable thrown = org.assertj.core.api.Assertions.catchThrowable(() -> PromptFiles.naming(prompts, items, () -> {
      throw new CascadeAnswers.PromptRefusedException(1, "", "small", "prompt: must not be empty");
    }));
    assertThat(thrown).isInstanceOf(IllegalArgumentException.class)
        .hasMessage(prompts + " line 3 (prompt ''), for small: prompt: must not be empty");
    // A refusal about another list (the same index, another prompt) is left as it is.
    Throwable other = org.assertj.core.api.Assertions.catchThrowable(() -> PromptFiles.naming(prompts, items, () -> {
      throw new CascadeAnswers.PromptRefusedException(1, "dog", "small", "prompt: too long");
    }));
    assertThat(other).hasMessage("item 2 (prompt 'dog'), for small: prompt: too long");
  }

  @Test
  void aMistypedRequiredOptionIsNamedBeforeTheOneItLeftMissing() {
    assertThat(parseError("ask", "ask", "--target", "127.0.0.1:5", "--promt", "x"))
        .isEqualTo("error: Unknown option: '--promt'; did you mean --prompt?; so: Missing required option:"
            + " '--prompt=TEXT'");
    // A negative number is a value, not an option.
    assertThat(parseError("policy set", "policy", "set", "--threshold", "-1"))
        .doesNotContain("Unknown option");
  }

  @Test
  void brokerPortAloneIsRefusedAndItsHelpSaysSo() {
    assertThat(parseError("broker", "broker", "--port", "20601"))
        .isEqualTo("error: --data-dir and --port go together: a restartable broker keeps both");
    CommandLineRun help = CommandLineRun.of("broker", "--help");
    assertThat(help.out().replaceAll("\\s+", " ")).contains("with --data-dir: the two go together");
  }

  @Test
  void aBrokerWhoseControllerPortIsTakenSaysSoInOneLine() throws Exception {
    try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      int controller = taken.getLocalPort();
      CommandLineRun run = CommandLineRun.of("broker", "--data-dir", dir.resolve("kafka").toString(), "--port",
          Integer.toString(controller - 1));
      assertThat(run.exitCode()).as(run.err()).isEqualTo(1);
      assertThat(lines(run.err())).containsExactly("error: --controller-port (not given: --port + 1) " + controller
          + ": address already in use");
    }
  }

  @picocli.CommandLine.Command(name = "cascade")
  static final class Throwing implements Callable<Integer> {
    static Exception next;

    @Override
    public Integer call() throws Exception {
      throw next;
    }
  }

  /** What the handler of the command line prints and returns for {@code e}, thrown by a command. */
  private static CommandLineRun thrown(Exception e) {
    Throwing.next = e;
    CommandLine cli = RuntimeCommand.configure(new CommandLine(new Throwing()), "./cascade");
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    cli.setOut(new PrintWriter(out, true));
    cli.setErr(new PrintWriter(err, true));
    int code = cli.execute();
    return new CommandLineRun(code, out.toString(), err.toString());
  }

  @Test
  void everyFileSystemErrorAndAnUnavailableEngineIsOneLine() throws IOException {
    CommandLineRun exists = thrown(new FileAlreadyExistsException(file.toString()));
    assertThat(exists.exitCode()).isEqualTo(2);
    assertThat(exists.err().strip()).isEqualTo("error: " + file + ": is a file, not a directory");

    CommandLineRun noReason = thrown(new java.io.UncheckedIOException(new FileSystemException("/some/where")));
    assertThat(noReason.exitCode()).isEqualTo(2);
    assertThat(noReason.err().strip()).isEqualTo("error: /some/where: cannot be used (FileSystemException)");

    CommandLineRun notDir = thrown(new java.nio.file.NotDirectoryException("/a/b"));
    assertThat(notDir.err().strip()).isEqualTo("error: /a/b: not a directory");

    CommandLineRun engine = thrown(new EngineUnavailableException("TensorRT",
        "engine TensorRT cannot run on this host: libnvinfer.so.8 is missing", new UnsatisfiedLinkError("x")));
    assertThat(engine.exitCode()).isEqualTo(2);
    assertThat(engine.err().strip()).isEqualTo("error: engine TensorRT cannot run on this host: libnvinfer.so.8 is missing");

    CommandLineRun io = thrown(new IOException("Broken pipe"));
    assertThat(io.exitCode()).isEqualTo(1);
    assertThat(io.err().strip()).isEqualTo("error: Broken pipe");
  }
}
