#include "gemm.hpp"
#include "testing.hpp"
