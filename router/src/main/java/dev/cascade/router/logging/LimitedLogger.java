package dev.cascade.router.logging;

import org.slf4j.Logger;
import org.slf4j.Marker;
import org.slf4j.event.Level;
import org.slf4j.helpers.LegacyAbstractLogger;
import org.slf4j.helpers.MessageFormatter;

/**
 * A logger whose warnings go through a {@link LogLimiter}, keyed by the formatted message: the
 * first of each distinct warning is written, the same warning again only once per interval, with
 * how many were not written since ({@code (N more like it not logged in the last S s)}). A key whose
 * interval has passed with warnings not written is summed up at the logger's next call of any
 * kind. Errors, and levels below warnings, go through unchanged. Writes through {@code delegate}
 * (its name, its level, the calling thread).
 */
final class LimitedLogger extends LegacyAbstractLogger {

  private static final long serialVersionUID = 1L;

  private final transient Logger delegate;
  private final transient LogLimiter<String> warnings;

  LimitedLogger(Logger delegate, LogLimiter<String> warnings) {
    this.name = delegate.getName();
    this.delegate = delegate;
    this.warnings = warnings;
  }

  @Override
  public boolean isTraceEnabled() {
    return delegate.isTraceEnabled();
  }

  @Override
  public boolean isDebugEnabled() {
    return delegate.isDebugEnabled();
  }

  @Override
  public boolean isInfoEnabled() {
    return delegate.isInfoEnabled();
  }

  @Override
  public boolean isWarnEnabled() {
    return delegate.isWarnEnabled();
  }

  @Override
  public boolean isErrorEnabled() {
    return delegate.isErrorEnabled();
  }

  @Override
  protected String getFullyQualifiedCallerName() {
    return null;
  }

  @Override
  protected void handleNormalizedLoggingCall(Level level, Marker marker, String messagePattern, Object[] arguments,
      Throwable throwable) {
    String message = MessageFormatter.basicArrayFormat(messagePattern, arguments);
    if (level != Level.WARN) {
      write(level, message, throwable);
    } else {
      LogLimiter.Pass pass = warnings.admit(message);
      if (pass != null) {
        write(Level.WARN, pass.suppressed() == 0 ? message : message + " (" + pass.suppressed()
            + " more like it not logged in the last " + pass.sinceLastSeconds() + " s)", throwable);
      }
    }
    for (LogLimiter.Summary<String> due : warnings.due()) {
      write(Level.WARN, (due.key() == null ? "other warnings" : due.key()) + " (" + due.suppressed()
          + " more like it not logged in the last " + due.overSeconds() + " s)", null);
    }
  }

  private void write(Level level, String message, Throwable throwable) {
    switch (level) {
      case ERROR -> delegate.error(message, throwable);
      case WARN -> delegate.warn(message, throwable);
      case INFO -> delegate.info(message, throwable);
      case DEBUG -> delegate.debug(message, throwable);
      default -> delegate.trace(message, throwable);
    }
  }
}
