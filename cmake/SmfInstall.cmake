# What `cmake --install build [--prefix P]` puts where. With the prefix
# /usr these are the paths the shipped configuration names: the programs in
# /usr/sbin and /usr/bin, the modules in /usr/lib/smf/modules, the
# configuration, rules and test signatures in /etc/smf, the module kit's
# header in /usr/include/smf, and the systemd units in /usr/lib/systemd/system.
# Other prefixes keep everything under them (P/etc/smf, P/lib/smf/modules).
# Paths written into files are worked out when installing, so that --prefix
# given then is the one they name.
include(GNUInstallDirs)

install(TARGETS smfd smfctl smf-milter RUNTIME DESTINATION sbin)
install(TARGETS smfc smf-modtest RUNTIME DESTINATION bin)
install(TARGETS ${SMF_SHIPPED_MODULES} LIBRARY DESTINATION lib/smf/modules)
install(FILES ${PROJECT_SOURCE_DIR}/sdk/include/smf/module.h DESTINATION include/smf)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION share/doc/securemailflow)
# The module guide, the ABI changelog the header points to, and the example
# module with its test, for authors who build against the installed kit.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/sdk/docs/ ${PROJECT_SOURCE_DIR}/sdk/examples
        DESTINATION share/doc/securemailflow/sdk)

install(CODE "
  set(prefix \"\${CMAKE_INSTALL_PREFIX}\")
  set(root \"\$ENV{DESTDIR}\")
  if(prefix STREQUAL \"/usr\")
    set(confdir \"/etc/smf\")
  else()
    set(confdir \"\${prefix}/etc/smf\")
  endif()
  set(moddir \"\${prefix}/lib/smf/modules\")
  set(sbindir \"\${prefix}/sbin\")
  set(docdir \"\${prefix}/share/doc/securemailflow\")

  # file(INSTALL) adds DESTDIR itself; file(WRITE) below does not.
  foreach(dir rules signatures samples)
    file(INSTALL \"${PROJECT_SOURCE_DIR}/etc/\${dir}\" DESTINATION \"\${confdir}\")
  endforeach()

  # The configuration names the installed module folder. An smfd.conf that
  # is already there is the site's own: it is kept, and the new one is
  # written beside it as smfd.conf.dist to compare with.
  file(READ \"${PROJECT_SOURCE_DIR}/etc/smfd.conf\" text)
  string(REPLACE \"module_dir = \\\"/usr/lib/smf/modules\\\"\"
                 \"module_dir = \\\"\${moddir}\\\"\" text \"\${text}\")
  file(WRITE \"\${root}\${confdir}/smfd.conf.dist\" \"\${text}\")
  if(EXISTS \"\${root}\${confdir}/smfd.conf\")
    message(STATUS \"Kept: \${root}\${confdir}/smfd.conf (the new one is smfd.conf.dist)\")
  else()
    file(WRITE \"\${root}\${confdir}/smfd.conf\" \"\${text}\")
    message(STATUS \"Installing: \${root}\${confdir}/smfd.conf\")
  endif()

  foreach(unit smfd smf-milter)
    file(READ \"${PROJECT_SOURCE_DIR}/etc/systemd/\${unit}.service.in\" text)
    string(REPLACE \"@SBINDIR@\" \"\${sbindir}\" text \"\${text}\")
    string(REPLACE \"@CONFDIR@\" \"\${confdir}\" text \"\${text}\")
    string(REPLACE \"@DOCDIR@\" \"\${docdir}\" text \"\${text}\")
    file(WRITE \"\${root}\${prefix}/lib/systemd/system/\${unit}.service\" \"\${text}\")
    message(STATUS \"Installing: \${root}\${prefix}/lib/systemd/system/\${unit}.service\")
  endforeach()

  # Each module's README goes beside these documents, in modules/NAME/ as
  # in the source tree, and the links between them are rewritten for where
  # they now are: the documents no longer sit in a docs/ folder.
  foreach(m ${SMF_SHIPPED_MODULES})
    if(EXISTS \"${PROJECT_SOURCE_DIR}/modules/\${m}/README.md\")
      file(READ \"${PROJECT_SOURCE_DIR}/modules/\${m}/README.md\" text)
      string(REPLACE \"](../../docs/\" \"](../../\" text \"\${text}\")
      file(WRITE \"\${root}\${docdir}/modules/\${m}/README.md\" \"\${text}\")
    endif()
  endforeach()
  file(GLOB docs \"\${root}\${docdir}/*.md\")
  foreach(doc \${docs})
    file(READ \"\${doc}\" text)
    string(REPLACE \"](../modules/\" \"](modules/\" text \"\${text}\")
    file(WRITE \"\${doc}\" \"\${text}\")
  endforeach()

  # The module kit's pkg-config file points at the installed header.
  file(READ \"${PROJECT_SOURCE_DIR}/sdk/smf-module.pc.in\" text)
  string(REPLACE \"@SMF_PC_INCLUDEDIR@\" \"\${prefix}/include\" text \"\${text}\")
  string(REPLACE \"@PROJECT_VERSION@\" \"${PROJECT_VERSION}\" text \"\${text}\")
  string(REPLACE \"(this one points into the\\n# source tree)\" \"(installed)\" text \"\${text}\")
  file(WRITE \"\${root}\${prefix}/share/pkgconfig/smf-module.pc\" \"\${text}\")
")
