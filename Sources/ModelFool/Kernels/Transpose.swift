/// Writes the transpose of the row-major `rows x cols` matrix at `src` to `dst` (`cols x rows`),
/// in square tiles so that both sides are read and written a cache line at a time (the plain
/// double loop strides through one side and spends most of its time in cache misses on matrices
/// the size of a convolution's weights).
@inline(__always)
func transposeMatrix(_ src: UnsafePointer<Float>, rows: Int, cols: Int, into dst: UnsafeMutablePointer<Float>) {
  let tile = 32
  var r0 = 0
  while r0 < rows {
    let r1 = Swift.min(r0 + tile, rows)
    var c0 = 0
    while c0 < cols {
      let c1 = Swift.min(c0 + tile, cols)
      for r in r0..<r1 {
        let s = src + r &* cols
        for c in c0..<c1 { dst[c &* rows &+ r] = s[c] }
      }
      c0 = c1
    }
    r0 = r1
  }
}
