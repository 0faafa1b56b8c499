package dev.cascade.models.server;

import com.google.protobuf.ByteString;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * KServe v2 BYTES tensors in their raw form ({@code raw_input_contents}, {@code raw_output_contents}):
 * the elements one after another, each a 4-byte little-endian length and then that many bytes, as
 * Triton writes and reads them.
 */
public final class KServeBytes {

  private KServeBytes() {}

  /** The raw form of {@code elements}, each as UTF-8. */
  public static ByteString encode(List<String> elements) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (String element : elements) {
      byte[] bytes = element.getBytes(StandardCharsets.UTF_8);
      out.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(bytes.length).array(), 0, 4);
      out.write(bytes, 0, bytes.length);
    }
    return ByteString.copyFrom(out.toByteArray());
  }

  /** The raw form, as messages about contents not in it name it. */
  public static final String FORM = "length-prefixed BYTES (each element a 4-byte little-endian length, then that"
      + " many bytes)";

  /**
   * The elements of a raw BYTES tensor.
   *
   * @throws IllegalArgumentException when {@code raw} is not in that form (a length runs past the
   *     end, or the contents end inside a length), saying what was found where: "not length-prefixed
   *     BYTES (...): element 2, at byte 7, declares 1802401130 bytes, which runs past the end (0
   *     bytes left)"
   */
  public static List<ByteString> decode(ByteString raw) {
    ByteBuffer buffer = raw.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    List<ByteString> elements = new ArrayList<>();
    while (buffer.hasRemaining()) {
      int at = buffer.position();
      int element = elements.size() + 1;
      if (buffer.remaining() < 4) {
        throw new IllegalArgumentException("not " + FORM + ": element " + element + ", at byte " + at + " of "
            + raw.size() + ", has " + buffer.remaining() + " byte" + (buffer.remaining() == 1 ? "" : "s")
            + " left, too few for its 4-byte length");
      }
      int length = buffer.getInt();
      if (length < 0 || length > buffer.remaining()) {
        throw new IllegalArgumentException("not " + FORM + ": element " + element + ", at byte " + at + " of "
            + raw.size() + ", declares " + Integer.toUnsignedString(length) + " bytes, which runs past the end ("
            + buffer.remaining() + " left)");
      }
      byte[] bytes = new byte[length];
      buffer.get(bytes);
      elements.add(ByteString.copyFrom(bytes));
    }
    return elements;
  }
}
