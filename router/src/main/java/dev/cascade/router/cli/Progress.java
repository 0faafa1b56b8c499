package dev.cascade.router.cli;

import dev.cascade.router.demo.DemoWorkload;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarConsumer;

/**
 * Progress bars on standard error, drawn only for a person watching: on a terminal, and not when
 * the command prints JSON. Redirected to a file or a pipe, a bar would only fill it with redraws.
 */
final class Progress {

  private static final ProgressBarConsumer SILENT = new ProgressBarConsumer() {
    @Override
    public int getMaxRenderedLength() {
      return 80;
    }

    @Override
    public void accept(String rendered) {}

    @Override
    public void close() {}
  };

  private Progress() {}

  /** Whether bars are drawn: a console is attached and the output is not JSON. */
  static boolean shown(boolean json) {
    return !json && System.console() != null;
  }

  /** A bar of {@code max} steps, drawn if {@code show}, with the rate per second if {@code speed}. */
  static ProgressBar bar(String task, long max, boolean show, boolean speed) {
    ProgressBarBuilder builder = new ProgressBarBuilder().setTaskName(task).setInitialMax(max)
        .setUpdateIntervalMillis(250).setConsumer(show ? new ConsoleProgressBarConsumer(System.err) : SILENT);
    if (speed) {
      builder.showSpeed();
    }
    return builder.build();
  }

  /** A demo workload's progress on a bar: answered as its count and rate, published as its message. */
  static DemoWorkload.Progress of(ProgressBar bar) {
    return (published, answered) -> {
      bar.setExtraMessage(" answered, published " + published);
      bar.stepTo(answered);
    };
  }
}
