/// Shape helpers shared by every op: element counts, row-major strides and broadcasting.

/// Number of elements of a shape (1 for a scalar `[]`).
@inlinable public func elementCount(_ shape: [Int]) -> Int {
  var n = 1
  for d in shape { n *= d }
  return n
}

/// Row-major (C order) strides of a contiguous tensor of `shape`.
@inlinable public func contiguousStrides(_ shape: [Int]) -> [Int] {
  var strides = [Int](repeating: 1, count: shape.count)
  var s = 1
  for i in stride(from: shape.count - 1, through: 0, by: -1) {
    strides[i] = s
    s *= shape[i]
  }
  return strides
}

/// The NumPy broadcast of two shapes, or `nil` when they are incompatible.
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
  let rank = Swift.max(a.count, b.count)
  var out = [Int](repeating: 1, count: rank)
  for i in 0..<rank {
    let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
    let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
    if da == db || db == 1 {
      out[i] = da
    } else if da == 1 {
      out[i] = db
    } else {
      return nil
    }
  }
  return out
}

/// Strides that read a contiguous tensor of `shape` as if it had been broadcast to `target`
/// (stride 0 along broadcast dimensions).
func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
  let own = contiguousStrides(shape)
  let offset = target.count - shape.count
  var strides = [Int](repeating: 0, count: target.count)
  for i in 0..<shape.count where shape[i] != 1 || target[i + offset] == 1 {
    strides[i + offset] = shape[i] == 1 ? 0 : own[i]
  }
  return strides
}

/// Stops the program with a one-line message naming the op and the offending shapes.
///
/// Ops check their arguments before touching memory, so a bad shape never reaches a kernel.
@inline(__always)
func shapeCheck(
  _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
  file: StaticString = #fileID, line: UInt = #line
) {
  if !condition() { fatalError("shape error: \(message())", file: file, line: line) }
}

/// Normalises a possibly negative axis against `rank`.
@inline(__always)
func normalizedAxis(_ axis: Int, rank: Int, op: String) -> Int {
  let a = axis < 0 ? axis + rank : axis
  shapeCheck(a >= 0 && a < rank, "\(op): axis \(axis) out of range for rank \(rank)")
  return a
}
