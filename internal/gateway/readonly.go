package gateway

import (
	"strings"

	"github.com/cpauth/cpauth/internal/api"
)

// A read-only cPanel API token reaches, through the gateway, only the
// forwarded functions on the read-only list: the gateway cannot ask the
// backend to hold a session to read-only calls, so it holds the token to
// them itself. Anything else is refused with the read-only message of the
// local functions, before the backend is asked. The shipped list is
// functions that read and change nothing; read-only-functions in the
// configuration extends it ("Module::function" for UAPI,
// "api2:Module::function" for cPanel API 2).
var defaultReadOnly = []string{
	// UAPI
	"Email::list_pops", "Email::list_pops_with_disk", "Email::count_pops", "Email::list_forwarders",
	"Email::list_domain_forwarders", "Email::list_mxs", "Email::list_lists", "Email::list_filters",
	"Email::list_auto_responders", "Email::get_pop_quota", "Email::get_disk_usage", "Email::get_main_account_disk_usage",
	"Email::account_name", "Email::get_spam_settings", "Email::get_webmail_settings", "Email::list_default_address",
	"Variables::get_user_information", "Variables::get_server_information", "Variables::get_session_information",
	"DomainInfo::list_domains", "DomainInfo::domains_data", "DomainInfo::single_domain_data", "DomainInfo::main_domain_builtin_subdomain_aliases",
	"DNS::parse_zone", "DNS::lookup",
	"SSL::list_certs", "SSL::list_keys", "SSL::list_csrs", "SSL::installed_hosts", "SSL::installed_host", "SSL::fetch_best_for_domain",
	"SSL::fetch_cert_info", "SSL::fetch_key_and_cabundle_for_certificate", "SSL::get_autossl_problems",
	"Mysql::list_databases", "Mysql::list_users", "Mysql::get_server_information", "Mysql::get_restrictions",
	"Postgresql::list_databases", "Postgresql::list_users",
	"Ftp::list_ftp", "Ftp::list_ftp_with_disk", "Ftp::list_sessions",
	"Quota::get_quota_info", "Quota::get_local_quota_info", "ResourceUsage::get_usages",
	"StatsBar::get_stats", "Stats::get_bandwidth", "Bandwidth::query", "Bandwidth::get_retention_periods", "Bandwidth::get_enabled_protocols",
	"Features::list_features", "Features::has_feature",
	"LangPHP::php_get_installed_versions", "LangPHP::php_get_system_default_version", "LangPHP::php_get_vhost_versions",
	"Mime::list_redirects", "Mime::list_hotlinks", "Mime::list_mime", "Mime::list_handlers",
	"SubDomain::list_subdomains", "Backup::list_backups", "Locale::get_attributes", "Locale::list_locales",
	"Branding::get_application_information", "Themes::get_theme_base", "ServerInformation::get_information",
	"CacheBuster::read", "Cron::get_email", "ContactInformation::retrieve", "Notifications::get_notifications_count",
	// cPanel API 2
	"api2:Email::listpops", "api2:Email::listpopswithdisk", "api2:Email::listforwards", "api2:Email::listmx",
	"api2:CustInfo::displaycontactinfo", "api2:ZoneEdit::fetchzone", "api2:ZoneEdit::fetchzone_records", "api2:ZoneEdit::fetchzones",
	"api2:SubDomain::listsubdomains", "api2:Park::listparkeddomains", "api2:AddonDomain::listaddondomains",
	"api2:MysqlFE::listdbs", "api2:MysqlFE::listusers", "api2:Cron::listcron", "api2:Ftp::listftp", "api2:Ftp::listftpwithdisk",
	"api2:StatsBar::stat", "api2:DomainLookup::getbasedomains", "api2:SSL::listcrts", "api2:SSL::listkeys", "api2:Stats::getmonthlybandwidth",
}

// ReadOnlyList is the set of forwarded functions read-only tokens may call.
type ReadOnlyList map[string]bool

// NewReadOnlyList is the shipped list plus extra.
func NewReadOnlyList(extra []string) ReadOnlyList {
	l := ReadOnlyList{}
	for _, f := range defaultReadOnly {
		l[f] = true
	}
	for _, f := range extra {
		l[strings.TrimSpace(f)] = true
	}
	return l
}

// Allows reports whether a read-only token may call the function.
func (l ReadOnlyList) Allows(fl api.Flavour, module, fn string) bool {
	switch fl {
	case api.UAPI:
		return l[module+"::"+fn]
	case api.API2:
		return l["api2:"+module+"::"+fn]
	}
	return false
}
