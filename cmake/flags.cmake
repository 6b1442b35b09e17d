# Compiler flags shared by every target: strict warnings, hardening, and the
# sanitizer build type. One place, so no target can opt out by accident.
string(TIMESTAMP KH_BUILD_DATE "%Y-%m-%dT%H:%M:%SZ" UTC)
add_compile_definitions(_GNU_SOURCE KH_VERSION="${PROJECT_VERSION}"
    KH_BUILD_DATE="${KH_BUILD_DATE}")

set(KH_WARNINGS
    -Wall -Wextra -Wshadow -Wformat=2 -Wvla -Wimplicit-fallthrough
    -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wundef
    -Wno-unused-parameter)
if(KH_WERROR)
    list(APPEND KH_WARNINGS -Werror)
endif()
add_compile_options(${KH_WARNINGS})

add_compile_options(-fstack-protector-strong -fstack-clash-protection
    -fcf-protection -fno-strict-aliasing -fvisibility=default)
add_link_options(-Wl,-z,relro,-z,now -Wl,-z,noexecstack)

# _FORTIFY_SOURCE needs optimisation; the sanitizer build keeps its own.
if(CMAKE_BUILD_TYPE MATCHES "Release|RelWithDebInfo")
    add_compile_definitions(_FORTIFY_SOURCE=2)
endif()

set(KH_SAN_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer)
set(CMAKE_C_FLAGS_ASAN "-O1 -g" CACHE STRING "" FORCE)
if(CMAKE_BUILD_TYPE STREQUAL "Asan")
    add_compile_options(${KH_SAN_FLAGS})
    add_link_options(${KH_SAN_FLAGS})
endif()

# libFuzzer needs clang. Library code gets coverage instrumentation so the
# fuzz targets can steer; the targets themselves link -fsanitize=fuzzer.
if(CMAKE_C_COMPILER_ID STREQUAL "Clang")
    set(KH_FUZZ_DEFAULT ON)
else()
    set(KH_FUZZ_DEFAULT OFF)
endif()
option(KH_FUZZ "Build libFuzzer targets (clang only)" ${KH_FUZZ_DEFAULT})
if(KH_FUZZ)
    add_compile_options(-fsanitize=fuzzer-no-link)
endif()
