# The CPU's vector state, for `traces/chunk_scan.pyx` (included there): a library that leaves the
# AVX registers' upper halves dirty (ISA-L's inflate does, `traces/bounded_read.py`) makes every
# SSE instruction after it pay for merging them; the compiled step ran 1.6x slower after each
# gzip piece. `clean_vector_state` (vzeroupper, on CPUs with AVX only) gives it a clean state.
cdef extern from *:
    """
    #if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    static int stepscope_has_avx = -1;
    static inline void clean_vector_state(void) {
        if (stepscope_has_avx < 0) {
            __builtin_cpu_init();
            stepscope_has_avx = __builtin_cpu_supports("avx") ? 1 : 0;
        }
        if (stepscope_has_avx) __asm__ volatile("vzeroupper");
    }
    #else
    static inline void clean_vector_state(void) {}
    #endif
    """
    void clean_vector_state() noexcept nogil
