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

  /**
   * The elements of a raw BYTES tensor.
   *
   * @throws IllegalArgumentException when a length runs past the end
   */
  public static List<ByteString> decode(ByteString raw) {
    ByteBuffer buffer = raw.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    List<ByteString> elements = new ArrayList<>();
    while (buffer.hasRemaining()) {
      if (buffer.remaining() < 4) {
        throw new IllegalArgumentException("raw BYTES contents end inside a length prefix");
      }
      int length = buffer.getInt();
      if (length < 0 || length > buffer.remaining()) {
        throw new IllegalArgumentException("raw BYTES element of " + length + " bytes runs past the end ("
            + buffer.remaining() + " left)");
      }
      byte[] element = new byte[length];
      buffer.get(element);
      elements.add(ByteString.copyFrom(element));
    }
    return elements;
  }
}
