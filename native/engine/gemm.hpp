// Single-precision matrix multiply for the engine (GotoBLAS/BLIS structure:
// packed panels, register-blocked micro-kernel, cache blocking).
//
// Results are bit-identical for every thread count and every call: threads
// only split C into blocks, K is never split, and each element of C goes
// through exactly the same sequence of floating-point operations wherever its
// tile falls. They may differ in the last bits between kernel families
// (AVX-512, AVX2, generic: tile shapes and FMA rounding differ).
#pragma once
#include <cstddef>
#include <cstdint>

namespace bp {

class ThreadPool;

enum class Trans { No, Yes };

// Work on a block of C once it holds its final values: fn(ctx, m0, m1, n0, n1) for the rows
// [m0, m1) and columns [n0, n1), called on the thread that computed the block, while it is still
// in that core's cache, for blocks that together cover C exactly once. Blocks of different calls
// may run concurrently, so fn may only touch its own block (of C or of arrays shaped like it).
struct GemmEpilogue {
  void (*fn)(void* ctx, int m0, int m1, int n0, int n1);
  void* ctx;
};

// Operands read through a row index, so a product can take a minibatch straight from the dataset
// instead of from a gathered copy: stored row r of A is A + a[r] * lda (a == nullptr: row r
// itself), likewise for B. Stored rows are what the storage order says: op(A)'s M rows when
// ta == No, its K columns when ta == Yes (and op(B)'s K rows when tb == No, N columns when Yes).
// The values read are the same as from a gathered copy, so the result is the same bits.
struct GemmRowIndex {
  const uint32_t* a = nullptr;
  const uint32_t* b = nullptr;
};

// Row-major: C[M x N] = alpha * op(A) * op(B) + beta * C, op(A) is M x K, op(B) is K x N.
// lda/ldb/ldc are the row strides of the matrices as stored (A stored K x M when ta == Yes).
// beta == 0 must ignore C's prior contents (C may hold NaN garbage). pool may be nullptr (single
// thread). alpha == 0 or K == 0 reads neither A nor B (C = beta * C), as BLAS does. epilogue, when
// given, runs on every block of C after the product (see GemmEpilogue); rows, when given, says
// where A's and B's stored rows are (see GemmRowIndex).
void sgemm(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc, ThreadPool* pool,
           const GemmEpilogue* epilogue = nullptr, const GemmRowIndex* rows = nullptr);

// Name of the kernel chosen at run time: "avx512", "avx2-fma" or "generic".
const char* gemmKernelName();

// The widest kernel family sgemm may use. Best: the widest the CPU supports (the default; the
// environment variable BACKPROP_GEMM_KERNEL=avx2 or =generic lowers it when the process starts,
// for results bit-identical across machines of different CPU generations). Returns the previous
// cap. Not for use while another thread runs sgemm.
enum class GemmKernelCap { Generic = 0, Avx2 = 1, Best = 2 };
GemmKernelCap gemmCapKernel(GemmKernelCap cap);

// Forces the generic kernel (for tests that compare the two); returns the previous setting.
bool gemmForceGeneric(bool force);

namespace gemm_detail {

// One kernel family: the micro-tile shape, its packing routines and the micro-kernel, so the
// blocked driver (compiled for baseline x86-64) can run code built for a wider instruction set.
struct Kernels {
  int mr, nr;
  int kcMax, mcMax, ncMax;  // cache blocking; mcMax is a multiple of mr, ncMax of nr
  // Packs op(A)[i0 .. i0+mc) x [k0 .. k0+kc) into ceil(mc/mr) micro-panels of kc*mr floats
  // (k-major, rows past mc zero-filled). rows: A's row index (GemmRowIndex::a) or nullptr.
  void (*packA)(bool trans, const float* A, std::ptrdiff_t lda, const uint32_t* rows, int i0, int k0, int mc,
                int kc, float* dst);
  // Packs op(B)[k0 .. k0+kc) x [j0 .. j0+nc) into ceil(nc/nr) micro-panels of kc*nr floats
  // (k-major, columns past nc zero-filled). rows: B's row index (GemmRowIndex::b) or nullptr.
  void (*packB)(bool trans, const float* B, std::ptrdiff_t ldb, const uint32_t* rows, int k0, int j0, int kc,
                int nc, float* dst);
  // One full mr x nr tile: C = alpha * (a . b) + beta * C, C not read when beta == 0.
  void (*micro)(int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc, float alpha,
                float beta);
  // Optional: the left mr x nr/2 half of a tile, from the same packed panels (b's stride stays nr),
  // with the same operations per element as `micro`, so the bits are the same. Runs a panel with
  // at most nr/2 real columns (N = 10 outputs, 784 = 24.5 x 32) at half the multiply-adds.
  void (*microHalf)(int kc, const float* a, const float* b, float* c, std::ptrdiff_t ldc, float alpha,
                    float beta) = nullptr;
};

namespace {
// Stored row r of a matrix read through an optional row index. Internal linkage on purpose: the
// AVX2 and AVX-512 files include this too, and a shared inline copy built with their flags must
// never be the one the linker hands to the baseline driver.
inline const float* storedRow(const float* m, std::ptrdiff_t ld, const uint32_t* rows, std::ptrdiff_t r) {
  return m + (rows ? static_cast<std::ptrdiff_t>(rows[r]) : r) * ld;
}
}  // namespace

// Defined in gemm_avx2.cpp; only called after the CPU was checked for AVX2 and FMA.
const Kernels& avx2Kernels();
// Defined in gemm_avx512.cpp; only called after the CPU was checked for AVX-512F.
const Kernels& avx512Kernels();

}  // namespace gemm_detail

}  // namespace bp
