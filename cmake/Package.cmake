# Installation layout and the Debian package (`cpack -G DEB` in the build
# directory): the binaries, the systemd units, an example config and zone,
# the docs and manual pages, and maintainer scripts that create the dns-node
# user.
include(GNUInstallDirs)

install(TARGETS dns-node dns-nodectl dns-register RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The units in contrib/ name /usr/local/bin (where a source build installs
# by default); installing rewrites that to this installation's prefix, which
# is only known when installing (cpack installs under /usr).
set(dnsnode_units dns-node@.service dns-register.service)
install(CODE "
  foreach(unit ${dnsnode_units})
    file(READ \"${PROJECT_SOURCE_DIR}/contrib/systemd/\${unit}\" text)
    string(REPLACE \"/usr/local/bin/\" \"\${CMAKE_INSTALL_PREFIX}/bin/\" text \"\${text}\")
    file(WRITE \"${PROJECT_BINARY_DIR}/units/\${unit}\" \"\${text}\")
  endforeach()")
foreach(unit ${dnsnode_units})
  install(FILES ${PROJECT_BINARY_DIR}/units/${unit} DESTINATION lib/systemd/system)
endforeach()

# Manual pages, compressed as Debian keeps them (gzip -9n: no name or time
# inside, so the package is the same from one build to the next).
set(dnsnode_man_pages dns-node.8 dns-nodectl.8 dns-register.8)
install(CODE "
  file(MAKE_DIRECTORY \"${PROJECT_BINARY_DIR}/man\")
  foreach(page ${dnsnode_man_pages})
    execute_process(COMMAND gzip -9n -c \"${PROJECT_SOURCE_DIR}/docs/man/\${page}\"
                    OUTPUT_FILE \"${PROJECT_BINARY_DIR}/man/\${page}.gz\" COMMAND_ERROR_IS_FATAL ANY)
  endforeach()")
foreach(page ${dnsnode_man_pages})
  install(FILES ${PROJECT_BINARY_DIR}/man/${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
endforeach()

# Configuration under /etc whatever the prefix: the units read it there.
install(FILES ${PROJECT_SOURCE_DIR}/contrib/package/dns-config.json DESTINATION /etc/dns-node)
install(FILES ${PROJECT_SOURCE_DIR}/zone-files/example.com.zone DESTINATION /etc/dns-node/zones)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/config.md
              ${PROJECT_SOURCE_DIR}/docs/http-api.md ${PROJECT_SOURCE_DIR}/docs/dns-nodectl.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_PACKAGE_NAME dns-node)
set(CPACK_PACKAGE_VENDOR dns-node)
set(CPACK_PACKAGE_CONTACT "dns-node maintainers <root@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "replicated authoritative DNS server")
set(CPACK_PACKAGE_DESCRIPTION
    "One dns-node process per machine; the nodes keep one consistent set of records through Raft. Includes dns-nodectl (the control client), dns-register (a host agent) and systemd units.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # libssl, libstdc++... found by dpkg-shlibdeps
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "bind9-dnsutils | knot-dnsutils")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/contrib/package/postinst ${PROJECT_SOURCE_DIR}/contrib/package/prerm
    ${PROJECT_SOURCE_DIR}/contrib/package/postrm ${PROJECT_SOURCE_DIR}/contrib/package/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
