# A PyTorch wheel's torch/include carries the protobuf headers torch itself
# was built with. A translation unit that links libtorch gets that folder as
# -isystem, ahead of /usr/include, so any .pb.h it includes (ours, or
# gRPC's) would compile against torch's protobuf instead of the system's it
# was generated for. Debian's libtorch has no such copy: its headers live in
# /usr/include beside the system protobuf.
#
# ssd_hide_torch_protobuf(OUT_DIRS <var> DIRS <dir>... TARGETS <target>...
#                         KEEP <protobuf include dir>... SHADOW_ROOT <dir>)
# Every include folder among DIRS and the INTERFACE_INCLUDE_DIRECTORIES of
# TARGETS (and the targets they link, recursively) that holds a
# google/protobuf of its own, and is not one of KEEP, is replaced by a
# shadow folder under SHADOW_ROOT: symbolic links to all of its entries but
# google/protobuf. OUT_DIRS receives DIRS so mapped.

# A symbolic link in TO for every entry of FROM but SKIP.
function(_ssd_link_entries from to skip)
  file(GLOB entries RELATIVE "${from}" "${from}/*")
  foreach(e ${entries})
    if(NOT e STREQUAL skip AND NOT EXISTS "${to}/${e}")
      file(CREATE_LINK "${from}/${e}" "${to}/${e}" SYMBOLIC)
    endif()
  endforeach()
endfunction()

function(_ssd_shadow_include_dir dir keep root out)
  set(${out} "${dir}" PARENT_SCOPE)
  if(dir MATCHES "\\$<" OR NOT IS_DIRECTORY "${dir}/google/protobuf")
    return()
  endif()
  file(REAL_PATH "${dir}" real)
  foreach(k ${keep})
    file(REAL_PATH "${k}" kreal)
    if(real STREQUAL kreal)
      return()
    endif()
  endforeach()
  string(MD5 key "${real}")
  set(shadow "${root}/${key}")
  file(MAKE_DIRECTORY "${shadow}/google")
  _ssd_link_entries("${real}" "${shadow}" google)
  _ssd_link_entries("${real}/google" "${shadow}/google" protobuf)
  message(STATUS "ssd: ${dir} carries its own google/protobuf; torch targets see ${shadow} instead")
  set(${out} "${shadow}" PARENT_SCOPE)
endfunction()

function(ssd_hide_torch_protobuf)
  cmake_parse_arguments(A "" "OUT_DIRS;SHADOW_ROOT" "DIRS;TARGETS;KEEP" ${ARGN})
  set(mapped "")
  foreach(d ${A_DIRS})
    _ssd_shadow_include_dir("${d}" "${A_KEEP}" "${A_SHADOW_ROOT}" s)
    list(APPEND mapped "${s}")
  endforeach()
  set(${A_OUT_DIRS} "${mapped}" PARENT_SCOPE)

  set(queue ${A_TARGETS})
  set(done "")
  while(queue)
    list(POP_FRONT queue t)
    string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" t "${t}")
    if(NOT TARGET "${t}" OR t IN_LIST done)
      continue()
    endif()
    list(APPEND done "${t}")
    get_target_property(aliased "${t}" ALIASED_TARGET)
    if(aliased)
      list(APPEND queue "${aliased}")
      continue()
    endif()
    foreach(prop INTERFACE_INCLUDE_DIRECTORIES INTERFACE_SYSTEM_INCLUDE_DIRECTORIES)
      get_target_property(dirs "${t}" ${prop})
      if(NOT dirs)
        continue()
      endif()
      set(new "")
      foreach(d ${dirs})
        _ssd_shadow_include_dir("${d}" "${A_KEEP}" "${A_SHADOW_ROOT}" s)
        list(APPEND new "${s}")
      endforeach()
      if(NOT new STREQUAL dirs)
        set_property(TARGET "${t}" PROPERTY ${prop} "${new}")
      endif()
    endforeach()
    get_target_property(links "${t}" INTERFACE_LINK_LIBRARIES)
    if(links)
      list(APPEND queue ${links})
    endif()
  endwhile()
endfunction()
