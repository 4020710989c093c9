import ModelFool
import Testing

/// Concatenation and slicing against index arithmetic, on one and two threads, for shapes large
/// enough to be split over the pool (at least 2^15 elements) and for parts whose trailing
/// dimensions are 1 (the rows of such a part lie apart in the output).
@Suite struct MovementTests {
  /// `shape`'s elements numbered from `first` on, so every value names its position.
  static func numbered(_ shape: [Int], from first: Int) -> Tensor {
    let count = shape.reduce(1, *)
    return Tensor(shape: shape, scalars: (0..<count).map { Float(first + $0) })
  }

  /// Row-major multi-index of `flat` in `shape`.
  static func index(_ flat: Int, in shape: [Int]) -> [Int] {
    var rest = flat, index = [Int](repeating: 0, count: shape.count)
    for d in shape.indices.reversed() {
      index[d] = rest % shape[d]
      rest /= shape[d]
    }
    return index
  }

  static func flat(_ index: [Int], in shape: [Int]) -> Int {
    zip(index, shape).reduce(0) { $0 * $1.1 + $1.0 }
  }

  static let cases: [(shapes: [[Int]], axis: Int)] = [
    ([[2, 40, 14, 14], [2, 32, 14, 14]], 1),
    ([[3, 5, 1], [3, 5, 2], [3, 5, 1]], 2),
    ([[2, 3, 70, 1], [2, 3, 70, 1]], 3),
    ([[1, 7, 4800], [2, 7, 4800]], 0),
    ([[6, 1, 9000], [6, 2, 9000]], 1),
  ]

  @Test(arguments: 0..<cases.count, [1, 2])
  func concatenationPutsEveryElementWhereItsIndexSays(_ c: Int, threads: Int) {
    let (shapes, axis) = Self.cases[c]
    var first = 0
    let parts = shapes.map { shape in
      defer { first += shape.reduce(1, *) }
      return Self.numbered(shape, from: first * 10)
    }
    let joined = EngineThreads.withCount(threads) { Tensor.concatenate(parts, alongAxis: axis) }
    var outShape = shapes[0]
    outShape[axis] = shapes.reduce(0) { $0 + $1[axis] }
    #expect(joined.shape == outShape)
    var expected = [Float](repeating: .nan, count: outShape.reduce(1, *))
    var offset = 0
    for (p, shape) in zip(parts, shapes) {
      let values = p.scalars
      for i in values.indices {
        var at = Self.index(i, in: shape)
        at[axis] += offset
        expected[Self.flat(at, in: outShape)] = values[i]
      }
      offset += shape[axis]
    }
    #expect(joined.scalars == expected)
    // The gradient splits back into the parts' own values.
    let back = EngineThreads.withCount(threads) {
      var start = 0
      return shapes.map { shape in
        defer { start += shape[axis] }
        return joined.slice(axis: axis, start..<(start + shape[axis]))
      }
    }
    #expect(zip(back, parts).allSatisfy { $0.shape == $1.shape && $0.scalars == $1.scalars })
  }

  @Test(arguments: [1, 2])
  func sliceOfEveryAxisAtOnce(threads: Int) {
    let shape = [3, 20, 30, 40]
    let x = Self.numbered(shape, from: 0)
    let (lower, upper) = ([1, 2, 5, 0], [3, 19, 29, 39])
    let s = EngineThreads.withCount(threads) { x.slice(lower: lower, upper: upper) }
    let outShape = zip(lower, upper).map { $1 - $0 }
    #expect(s.shape == outShape)
    let got = s.scalars
    let wrong = got.indices.filter { i in
      let at = zip(Self.index(i, in: outShape), lower).map { $0 + $1 }
      return got[i] != Float(Self.flat(at, in: shape))
    }
    #expect(wrong.isEmpty)
  }
}
