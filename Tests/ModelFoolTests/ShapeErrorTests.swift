import ModelFool
import Testing

/// Bad shapes stop with a one-line message naming the op and shapes, before any kernel runs.
@Suite("Shape errors")
struct ShapeErrorTests {
  @Test func matmulInnerDimensions() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor.matmul(Tensor.zeros([2, 3]), Tensor.zeros([4, 5]))
    }
    let text = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(text.contains("matmul: inner dimensions differ"))
  }

  @Test func convChannelMismatch() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor.conv2d(Tensor.zeros([1, 3, 8, 8]), Tensor.zeros([4, 2, 3, 3]), geometry: ConvGeometry(kernel: (3, 3)))
    }
    let text = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(text.contains("conv2d: weight [4, 2, 3, 3] expects 2 input channels"))
  }

  @Test func convWindowTooLarge() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor.conv2d(Tensor.zeros([1, 1, 2, 2]), Tensor.zeros([1, 1, 5, 5]), geometry: ConvGeometry(kernel: (5, 5)))
    }
    let text = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(text.contains("does not fit input [1, 1, 2, 2]"))
  }

  @Test func broadcastMismatch() async {
    let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
      _ = Tensor.zeros([2, 3]) + Tensor.zeros([4])
    }
    let text = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
    #expect(text.contains("add: cannot broadcast [2, 3] with [4]"))
  }
}
