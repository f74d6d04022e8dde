/* parse: counts, numbers and dates as news sites print them, from untrusted UTF-8. */
#define _GNU_SOURCE
#include <float.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "digest/parse.h"
#include "digest/util.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ */
/* UTF-8 and character classes                                         */

/* Locale-independent: the program may run under any LC_CTYPE. */
static int is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static size_t digit_run(const unsigned char *s)
{
	size_t n = 0;
	while (is_digit(s[n]))
		n++;
	return n;
}

/* Unicode White_Space: sites group digits with NBSP, thin and narrow spaces. */
static int is_uspace(uint32_t cp)
{
	return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D) || cp == 0x85 || cp == 0xA0 ||
	       cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
	       cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Only the scripts the word tables use need folding. */
static uint32_t lower_cp(uint32_t cp)
{
	if (cp >= 'A' && cp <= 'Z')
		return cp + 0x20;
	if (cp >= 0x0410 && cp <= 0x042F)
		return cp + 0x20;
	if (cp >= 0x0400 && cp <= 0x040F)
		return cp + 0x50;
	/* Latin-1 and Latin Extended-A capitals ("März", "Únor", "Říjen"):
	 * two UTF-8 bytes in, two out. */
	if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
		return cp + 0x20;
	if (((cp >= 0x100 && cp <= 0x137) || (cp >= 0x14A && cp <= 0x177)) && cp % 2 == 0)
		return cp + 1;
	if (((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) && cp % 2 == 1)
		return cp + 1;
	return cp;
}

static int is_letter(uint32_t cp)
{
	return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
	       (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) ||
	       (cp >= 0x0370 && cp <= 0x052F);
}

/* ------------------------------------------------------------------ */
/* Counts                                                              */

struct suffix {
	const char *word; /* lower case */
	int stem;         /* inflected forms ("тысячи", "millions") match too */
	unsigned long long mult;
};

static const struct suffix count_suffixes[] = {
	{ "k", 0, 1000ULL },
	{ "к", 0, 1000ULL },
	{ "тыс", 1, 1000ULL },
	{ "thousand", 1, 1000ULL },
	{ "m", 0, 1000000ULL },
	{ "mln", 0, 1000000ULL },
	{ "mn", 0, 1000000ULL },
	{ "млн", 0, 1000000ULL },
	{ "миллион", 1, 1000000ULL },
	{ "million", 1, 1000000ULL },
	{ "b", 0, 1000000000ULL },
	{ "bn", 0, 1000000000ULL },
	{ "млрд", 0, 1000000000ULL },
	{ "миллиард", 1, 1000000000ULL },
	{ "billion", 1, 1000000000ULL },
};

/* Bytes of S matching lower-case WORD in any case, or 0. */
static size_t match_ci(const unsigned char *s, const char *word)
{
	const unsigned char *w = (const unsigned char *)word;
	size_t i = 0, j = 0;

	while (w[j]) {
		size_t li, lj;
		uint32_t a, b;
		if (!s[i])
			return 0;
		a = lower_cp((uint32_t)utf8_decode(s + i, &li));
		b = (uint32_t)utf8_decode(w + j, &lj);
		if (a != b)
			return 0;
		i += li;
		j += lj;
	}
	return i;
}

/* The multiplier of a suffix at S, after optional spaces, or 0 when none. */
static unsigned long long suffix_at(const unsigned char *s)
{
	size_t i = 0, len;

	while (s[i] && is_uspace((uint32_t)utf8_decode(s + i, &len)))
		i += len;
	for (size_t k = 0; k < COUNT(count_suffixes); k++) {
		size_t n = match_ci(s + i, count_suffixes[k].word);
		if (!n)
			continue;
		/* "14 комментариев" is not 14 thousand: a suffix ends its word. */
		if (!count_suffixes[k].stem && s[i + n] && is_letter((uint32_t)utf8_decode(s + i + n, &len)))
			continue;
		return count_suffixes[k].mult;
	}
	return 0;
}

/* Length of a group separator at S: one Unicode space, ',' or '.'; else 0. */
static size_t sep_at(const unsigned char *s, int *space)
{
	size_t len;

	*space = 0;
	if (*s == ',' || *s == '.')
		return 1;
	if (*s && is_uspace((uint32_t)utf8_decode(s, &len))) {
		*space = 1;
		return len;
	}
	return 0;
}

/*
 * Bytes of a thousands group (separator and three digits) at S, or 0. A
 * space always groups; ',' and '.' group unless a suffix follows, where they
 * are the decimal mark of "2.212K". Once another group follows, as in
 * "1,234,567", no suffix can make the first one a decimal.
 */
static size_t group_at(const unsigned char *s)
{
	int space, space2;
	size_t n = sep_at(s, &space), n2;

	if (!n || digit_run(s + n) != 3)
		return 0;
	if (space)
		return n + 3;
	n2 = sep_at(s + n + 3, &space2);
	if (n2 && digit_run(s + n + 3 + n2) == 3)
		return n + 3;
	return suffix_at(s + n + 3) ? 0 : n + 3;
}

static int add_digits(const unsigned char *d, size_t n, unsigned long long *v)
{
	for (size_t k = 0; k < n; k++) {
		unsigned long long x = (unsigned long long)(d[k] - '0');
		if (*v > ((unsigned long long)LLONG_MAX - x) / 10)
			return -1;
		*v = *v * 10 + x;
	}
	return 0;
}

/*
 * Grouping needs a leading group of one to three digits, so "2212 345" is
 * 2212, like "21 1234" is 21. A fraction without a suffix is dropped
 * ("2,5" is 2): counts are whole and such a string is more likely a list
 * than half a view. The fraction is applied in integers so "1.2M" is
 * exactly 1200000.
 */
int parse_count(const char *s, long long *out)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned long long v = 0, frac = 0, mult;
	size_t i = 0, lead;

	if (!s || !out)
		return -1;
	while (u[i] && !is_digit(u[i]))
		i++;
	if (!u[i])
		return -1;
	lead = digit_run(u + i);
	if (add_digits(u + i, lead, &v) < 0)
		return -1;
	i += lead;
	if (lead <= 3) {
		size_t g;
		while ((g = group_at(u + i)) != 0) {
			if (add_digits(u + i + g - 3, 3, &v) < 0)
				return -1;
			i += g;
		}
	}
	if ((u[i] == ',' || u[i] == '.') && is_digit(u[i + 1])) {
		/* Nine digits are all a billion multiplier can use. */
		int nd = 0;
		for (i++; is_digit(u[i]); i++) {
			if (nd < 9) {
				frac = frac * 10 + (unsigned long long)(u[i] - '0');
				nd++;
			}
		}
		for (; nd < 9; nd++)
			frac *= 10;
	}
	mult = suffix_at(u + i);
	if (!mult) {
		*out = (long long)v;
		return 0;
	}
	if (v > (unsigned long long)LLONG_MAX / mult)
		return -1;
	v = v * mult + frac * mult / 1000000000ULL;
	if (v > (unsigned long long)LLONG_MAX)
		return -1;
	*out = (long long)v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Numbers                                                             */

/* Whether the character ending just before byte AT of U is a letter or digit. */
static int prev_is_word(const unsigned char *u, size_t at)
{
	size_t start = at, len;

	if (at == 0)
		return 0;
	do
		start--;
	while (start > 0 && at - start < 4 && (u[start] & 0xC0) == 0x80);
	return is_digit(u[start]) || is_letter((uint32_t)utf8_decode(u + start, &len));
}

/*
 * A sign counts only when it is not glued to a word ("ID-5" is 5). The
 * value is built from an integer mantissa and one exact power of ten so
 * that "0.1" or "4.5" come out correctly rounded whatever the locale.
 */
int parse_number(const char *s, double *out)
{
	static const double p10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
				      1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22 };
	const unsigned char *u = (const unsigned char *)s;
	const unsigned long long limit = 100000000000000000ULL;
	unsigned long long m = 0;
	long exp10 = 0;
	size_t i = 0, sign_len = 0;
	int neg = 0;
	double v;

	if (!s || !out)
		return -1;
	while (u[i] && !is_digit(u[i]))
		i++;
	if (!u[i])
		return -1;
	if (i >= 1 && (u[i - 1] == '-' || u[i - 1] == '+'))
		sign_len = 1, neg = u[i - 1] == '-';
	else if (i >= 3 && u[i - 3] == 0xE2 && u[i - 2] == 0x88 && u[i - 1] == 0x92)
		sign_len = 3, neg = 1; /* U+2212 MINUS SIGN */
	if (neg && prev_is_word(u, i - sign_len))
		neg = 0;
	for (; is_digit(u[i]); i++) {
		if (m < limit)
			m = m * 10 + (unsigned long long)(u[i] - '0');
		else if (exp10 < 100000)
			exp10++;
	}
	if ((u[i] == '.' || u[i] == ',') && is_digit(u[i + 1])) {
		for (i++; is_digit(u[i]); i++) {
			if (m < limit && exp10 > -100000) {
				m = m * 10 + (unsigned long long)(u[i] - '0');
				exp10--;
			}
		}
	}
	v = (double)m;
	if (m != 0) {
		for (; exp10 > 22; exp10 -= 22) {
			v *= 1e22;
			if (v > DBL_MAX)
				return -1;
		}
		for (; exp10 < -22; exp10 += 22)
			v /= 1e22;
		if (exp10 > 0)
			v *= p10[exp10];
		else if (exp10 < 0)
			v /= p10[-exp10];
		if (v > DBL_MAX)
			return -1;
	}
	*out = neg && v != 0 ? -v : v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Dates                                                               */

/* Longer is not a date: it bounds the work and the stack buffers. */
#define DATE_MAX 256
/* tm_year before strptime, to tell "no year in FMT" from 1900. */
#define YEAR_UNSET (-1000000)

/* What a form gave; unset fields are zero. */
struct dt {
	int year, mon, day, hour, min, sec;
	int has_year, has_date;
	int has_rel, rel; /* "вчера": REL days from NOW's date, no DAY/MON */
	int has_off;
	long off; /* seconds east of UTC */
	int loose_dm; /* "4.5": a bare DD.MM not in two-digit form */
};

struct name {
	const char *word; /* lower case */
	int val;
};

/*
 * Month and weekday names by language: full names, genitives ("января",
 * "de marzo" reads as "marzo"), abbreviations, and spellings without
 * diacritics that sites use. Lower case: normalize() folds the input. The
 * built-in forms read the words of every language; a source's date_format
 * reads those of its `language` only (%B, %b, %h, %A, %a).
 */
static const struct name months_en[] = {
	{ "january", 1 }, { "jan", 1 }, { "february", 2 }, { "feb", 2 }, { "march", 3 }, { "mar", 3 },
	{ "april", 4 }, { "apr", 4 }, { "may", 5 }, { "june", 6 }, { "jun", 6 }, { "july", 7 },
	{ "jul", 7 }, { "august", 8 }, { "aug", 8 }, { "september", 9 }, { "sep", 9 }, { "sept", 9 },
	{ "october", 10 }, { "oct", 10 }, { "november", 11 }, { "nov", 11 }, { "december", 12 },
	{ "dec", 12 },
};
static const struct name months_ru[] = {
	{ "январь", 1 }, { "января", 1 }, { "янв", 1 }, { "февраль", 2 }, { "февраля", 2 }, { "фев", 2 },
	{ "февр", 2 }, { "март", 3 }, { "марта", 3 }, { "мар", 3 }, { "апрель", 4 }, { "апреля", 4 },
	{ "апр", 4 }, { "май", 5 }, { "мая", 5 }, { "июнь", 6 }, { "июня", 6 }, { "июн", 6 },
	{ "июль", 7 }, { "июля", 7 }, { "июл", 7 }, { "август", 8 }, { "августа", 8 }, { "авг", 8 },
	{ "сентябрь", 9 }, { "сентября", 9 }, { "сен", 9 }, { "сент", 9 }, { "октябрь", 10 },
	{ "октября", 10 }, { "окт", 10 }, { "ноябрь", 11 }, { "ноября", 11 }, { "ноя", 11 },
	{ "нояб", 11 }, { "декабрь", 12 }, { "декабря", 12 }, { "дек", 12 },
};
static const struct name months_de[] = {
	{ "januar", 1 }, { "jänner", 1 }, { "jan", 1 }, { "februar", 2 }, { "feb", 2 }, { "märz", 3 },
	{ "maerz", 3 }, { "mär", 3 }, { "mrz", 3 }, { "april", 4 }, { "apr", 4 }, { "mai", 5 },
	{ "juni", 6 }, { "jun", 6 }, { "juli", 7 }, { "jul", 7 }, { "august", 8 }, { "aug", 8 },
	{ "september", 9 }, { "sep", 9 }, { "sept", 9 }, { "oktober", 10 }, { "okt", 10 },
	{ "november", 11 }, { "nov", 11 }, { "dezember", 12 }, { "dez", 12 },
};
static const struct name months_fr[] = {
	{ "janvier", 1 }, { "janv", 1 }, { "février", 2 }, { "fevrier", 2 }, { "févr", 2 }, { "fevr", 2 },
	{ "mars", 3 }, { "avril", 4 }, { "avr", 4 }, { "mai", 5 }, { "juin", 6 }, { "juillet", 7 },
	{ "juil", 7 }, { "août", 8 }, { "aout", 8 }, { "septembre", 9 }, { "sept", 9 }, { "octobre", 10 },
	{ "oct", 10 }, { "novembre", 11 }, { "nov", 11 }, { "décembre", 12 }, { "decembre", 12 },
	{ "déc", 12 }, { "dec", 12 },
};
static const struct name months_es[] = {
	{ "enero", 1 }, { "ene", 1 }, { "febrero", 2 }, { "feb", 2 }, { "marzo", 3 }, { "mar", 3 },
	{ "abril", 4 }, { "abr", 4 }, { "mayo", 5 }, { "may", 5 }, { "junio", 6 }, { "jun", 6 },
	{ "julio", 7 }, { "jul", 7 }, { "agosto", 8 }, { "ago", 8 }, { "septiembre", 9 },
	{ "setiembre", 9 }, { "sep", 9 }, { "sept", 9 }, { "octubre", 10 }, { "oct", 10 },
	{ "noviembre", 11 }, { "nov", 11 }, { "diciembre", 12 }, { "dic", 12 },
};
static const struct name months_it[] = {
	{ "gennaio", 1 }, { "gen", 1 }, { "febbraio", 2 }, { "feb", 2 }, { "marzo", 3 }, { "mar", 3 },
	{ "aprile", 4 }, { "apr", 4 }, { "maggio", 5 }, { "mag", 5 }, { "giugno", 6 }, { "giu", 6 },
	{ "luglio", 7 }, { "lug", 7 }, { "agosto", 8 }, { "ago", 8 }, { "settembre", 9 }, { "set", 9 },
	{ "ottobre", 10 }, { "ott", 10 }, { "novembre", 11 }, { "nov", 11 }, { "dicembre", 12 },
	{ "dic", 12 },
};
static const struct name months_pt[] = {
	{ "janeiro", 1 }, { "jan", 1 }, { "fevereiro", 2 }, { "fev", 2 }, { "março", 3 }, { "marco", 3 },
	{ "mar", 3 }, { "abril", 4 }, { "abr", 4 }, { "maio", 5 }, { "mai", 5 }, { "junho", 6 },
	{ "jun", 6 }, { "julho", 7 }, { "jul", 7 }, { "agosto", 8 }, { "ago", 8 }, { "setembro", 9 },
	{ "set", 9 }, { "outubro", 10 }, { "out", 10 }, { "novembro", 11 }, { "nov", 11 },
	{ "dezembro", 12 }, { "dez", 12 },
};
static const struct name months_nl[] = {
	{ "januari", 1 }, { "jan", 1 }, { "februari", 2 }, { "feb", 2 }, { "maart", 3 }, { "mrt", 3 },
	{ "april", 4 }, { "apr", 4 }, { "mei", 5 }, { "juni", 6 }, { "jun", 6 }, { "juli", 7 },
	{ "jul", 7 }, { "augustus", 8 }, { "aug", 8 }, { "september", 9 }, { "sep", 9 }, { "sept", 9 },
	{ "oktober", 10 }, { "okt", 10 }, { "november", 11 }, { "nov", 11 }, { "december", 12 },
	{ "dec", 12 },
};
static const struct name months_pl[] = {
	{ "stycznia", 1 }, { "styczeń", 1 }, { "styczen", 1 }, { "sty", 1 }, { "lutego", 2 },
	{ "luty", 2 }, { "lut", 2 }, { "marca", 3 }, { "marzec", 3 }, { "mar", 3 }, { "kwietnia", 4 },
	{ "kwiecień", 4 }, { "kwiecien", 4 }, { "kwi", 4 }, { "maja", 5 }, { "maj", 5 },
	{ "czerwca", 6 }, { "czerwiec", 6 }, { "cze", 6 }, { "lipca", 7 }, { "lipiec", 7 }, { "lip", 7 },
	{ "sierpnia", 8 }, { "sierpień", 8 }, { "sierpien", 8 }, { "sie", 8 }, { "września", 9 },
	{ "wrzesień", 9 }, { "wrzesien", 9 }, { "wrz", 9 }, { "października", 10 },
	{ "październik", 10 }, { "paz", 10 }, { "paź", 10 }, { "listopada", 11 }, { "listopad", 11 },
	{ "lis", 11 }, { "grudnia", 12 }, { "grudzień", 12 }, { "grudzien", 12 }, { "gru", 12 },
};
static const struct name months_cs[] = {
	{ "leden", 1 }, { "ledna", 1 }, { "led", 1 }, { "únor", 2 }, { "února", 2 }, { "úno", 2 },
	{ "březen", 3 }, { "března", 3 }, { "bře", 3 }, { "duben", 4 }, { "dubna", 4 }, { "dub", 4 },
	{ "květen", 5 }, { "května", 5 }, { "kvě", 5 }, { "červen", 6 }, { "června", 6 }, { "čvn", 6 },
	{ "červenec", 7 }, { "července", 7 }, { "čvc", 7 }, { "srpen", 8 }, { "srpna", 8 }, { "srp", 8 },
	{ "září", 9 }, { "zář", 9 }, { "říjen", 10 }, { "října", 10 }, { "říj", 10 }, { "listopad", 11 },
	{ "listopadu", 11 }, { "lis", 11 }, { "prosinec", 12 }, { "prosince", 12 }, { "pro", 12 },
};
static const struct name months_uk[] = {
	{ "січня", 1 }, { "січень", 1 }, { "січ", 1 }, { "лютого", 2 }, { "лютий", 2 }, { "лют", 2 },
	{ "березня", 3 }, { "березень", 3 }, { "бер", 3 }, { "квітня", 4 }, { "квітень", 4 },
	{ "квіт", 4 }, { "травня", 5 }, { "травень", 5 }, { "трав", 5 }, { "червня", 6 },
	{ "червень", 6 }, { "черв", 6 }, { "липня", 7 }, { "липень", 7 }, { "лип", 7 }, { "серпня", 8 },
	{ "серпень", 8 }, { "серп", 8 }, { "вересня", 9 }, { "вересень", 9 }, { "вер", 9 },
	{ "жовтня", 10 }, { "жовтень", 10 }, { "жовт", 10 }, { "листопада", 11 }, { "листопад", 11 },
	{ "лист", 11 }, { "грудня", 12 }, { "грудень", 12 }, { "груд", 12 },
};
static const struct name months_ca[] = {
	{ "gener", 1 }, { "febrer", 2 }, { "març", 3 }, { "abril", 4 }, { "maig", 5 }, { "juny", 6 },
	{ "juliol", 7 }, { "agost", 8 }, { "setembre", 9 }, { "octubre", 10 }, { "novembre", 11 },
	{ "desembre", 12 },
};

/* Weekdays are decoration, skipped and never checked against the date. No
 * "mar" (French mardi): it would take "mar 17, 2020"'s month. */
static const struct name weekdays_en[] = {
	{ "monday", 1 }, { "mon", 1 }, { "tuesday", 2 }, { "tue", 2 }, { "tues", 2 }, { "wednesday", 3 },
	{ "wed", 3 }, { "thursday", 4 }, { "thu", 4 }, { "thur", 4 }, { "thurs", 4 }, { "friday", 5 },
	{ "fri", 5 }, { "saturday", 6 }, { "sat", 6 }, { "sunday", 7 }, { "sun", 7 },
};
static const struct name weekdays_ru[] = {
	{ "понедельник", 1 }, { "пн", 1 }, { "вторник", 2 }, { "вт", 2 }, { "среда", 3 }, { "ср", 3 },
	{ "четверг", 4 }, { "чт", 4 }, { "пятница", 5 }, { "пт", 5 }, { "суббота", 6 }, { "сб", 6 },
	{ "воскресенье", 7 }, { "вс", 7 },
};
static const struct name weekdays_de[] = {
	{ "montag", 1 }, { "mo", 1 }, { "dienstag", 2 }, { "di", 2 }, { "mittwoch", 3 }, { "mi", 3 },
	{ "donnerstag", 4 }, { "do", 4 }, { "freitag", 5 }, { "fr", 5 }, { "samstag", 6 },
	{ "sonnabend", 6 }, { "sa", 6 }, { "sonntag", 7 }, { "so", 7 },
};
static const struct name weekdays_fr[] = {
	{ "lundi", 1 }, { "lun", 1 }, { "mardi", 2 }, { "mercredi", 3 }, { "mer", 3 }, { "jeudi", 4 },
	{ "jeu", 4 }, { "vendredi", 5 }, { "ven", 5 }, { "samedi", 6 }, { "sam", 6 }, { "dimanche", 7 },
	{ "dim", 7 },
};
static const struct name weekdays_es[] = {
	{ "lunes", 1 }, { "lun", 1 }, { "martes", 2 }, { "miércoles", 3 }, { "miercoles", 3 },
	{ "mié", 3 }, { "jueves", 4 }, { "jue", 4 }, { "viernes", 5 }, { "vie", 5 }, { "sábado", 6 },
	{ "sabado", 6 }, { "sáb", 6 }, { "sab", 6 }, { "domingo", 7 }, { "dom", 7 },
};
static const struct name weekdays_it[] = {
	{ "lunedì", 1 }, { "lunedi", 1 }, { "lun", 1 }, { "martedì", 2 }, { "martedi", 2 },
	{ "mercoledì", 3 }, { "mercoledi", 3 }, { "mer", 3 }, { "giovedì", 4 }, { "giovedi", 4 },
	{ "venerdì", 5 }, { "venerdi", 5 }, { "ven", 5 }, { "sabato", 6 }, { "sab", 6 },
	{ "domenica", 7 }, { "dom", 7 },
};
static const struct name weekdays_pt[] = {
	{ "segunda-feira", 1 }, { "segunda", 1 }, { "seg", 1 }, { "terça-feira", 2 },
	{ "terca-feira", 2 }, { "terça", 2 }, { "ter", 2 }, { "quarta-feira", 3 }, { "quarta", 3 },
	{ "qua", 3 }, { "quinta-feira", 4 }, { "quinta", 4 }, { "qui", 4 }, { "sexta-feira", 5 },
	{ "sexta", 5 }, { "sex", 5 }, { "sábado", 6 }, { "sabado", 6 }, { "sáb", 6 }, { "sab", 6 },
	{ "domingo", 7 }, { "dom", 7 },
};
static const struct name weekdays_nl[] = {
	{ "maandag", 1 }, { "ma", 1 }, { "dinsdag", 2 }, { "di", 2 }, { "woensdag", 3 }, { "wo", 3 },
	{ "donderdag", 4 }, { "do", 4 }, { "vrijdag", 5 }, { "vr", 5 }, { "zaterdag", 6 }, { "za", 6 },
	{ "zondag", 7 }, { "zo", 7 },
};
static const struct name weekdays_pl[] = {
	{ "poniedziałek", 1 }, { "poniedzialek", 1 }, { "pon", 1 }, { "wtorek", 2 }, { "wt", 2 },
	{ "środa", 3 }, { "sroda", 3 }, { "śr", 3 }, { "czwartek", 4 }, { "czw", 4 }, { "piątek", 5 },
	{ "piatek", 5 }, { "pt", 5 }, { "sobota", 6 }, { "sob", 6 }, { "niedziela", 7 }, { "niedz", 7 },
	{ "nd", 7 },
};
static const struct name weekdays_cs[] = {
	{ "pondělí", 1 }, { "po", 1 }, { "úterý", 2 }, { "út", 2 }, { "středa", 3 }, { "st", 3 },
	{ "čtvrtek", 4 }, { "čt", 4 }, { "pátek", 5 }, { "pá", 5 }, { "sobota", 6 }, { "so", 6 },
	{ "neděle", 7 }, { "ne", 7 },
};
static const struct name weekdays_uk[] = {
	{ "понеділок", 1 }, { "вівторок", 2 }, { "середа", 3 }, { "четвер", 4 }, { "п'ятниця", 5 },
	{ "п’ятниця", 5 }, { "субота", 6 }, { "неділя", 7 }, { "нд", 7 },
};

#define WORDS(a) a, COUNT(a)
static const struct language {
	const char *code; /* ISO 639-1, as a source's `language` names it */
	const struct name *months;
	size_t nmonths;
	const struct name *weekdays;
	size_t nweekdays;
} languages[] = {
	{ "en", WORDS(months_en), WORDS(weekdays_en) }, { "ru", WORDS(months_ru), WORDS(weekdays_ru) },
	{ "de", WORDS(months_de), WORDS(weekdays_de) }, { "fr", WORDS(months_fr), WORDS(weekdays_fr) },
	{ "es", WORDS(months_es), WORDS(weekdays_es) }, { "it", WORDS(months_it), WORDS(weekdays_it) },
	{ "pt", WORDS(months_pt), WORDS(weekdays_pt) }, { "nl", WORDS(months_nl), WORDS(weekdays_nl) },
	{ "pl", WORDS(months_pl), WORDS(weekdays_pl) }, { "cs", WORDS(months_cs), WORDS(weekdays_cs) },
	{ "uk", WORDS(months_uk), WORDS(weekdays_uk) }, { "ca", WORDS(months_ca), NULL, 0 },
};
#undef WORDS

/* The language CODE names ("de"), or NULL; NULL is English. */
static const struct language *language_of(const char *code)
{
	if (!code)
		return &languages[0];
	for (size_t k = 0; k < COUNT(languages); k++)
		if (!strcmp(languages[k].code, code))
			return &languages[k];
	return NULL;
}

static const struct name relatives[] = {
	{ "сегодня", 0 }, { "today", 0 }, { "вчера", -1 }, { "yesterday", -1 }, { "позавчера", -2 },
};

/*
 * Zone abbreviations a news site prints, as offsets in seconds east of UTC.
 * An abbreviation names one offset here even where the world uses it for
 * several: IST is India (+05:30, not Irish or Israel time), BST British
 * summer time (+01:00), CST US Central (-06:00, not China), AST Atlantic
 * (-04:00), EAT East Africa (+03:00). "МСК" is how Russian sites mark
 * Moscow time. README.md lists this table.
 */
#define H 3600
static const struct name zones[] = {
	{ "z", 0 },          { "ut", 0 },          { "utc", 0 },         { "gmt", 0 },         { "wet", 0 },
	{ "west", 1 * H },   { "bst", 1 * H },     { "cet", 1 * H },     { "met", 1 * H },     { "mez", 1 * H },
	{ "wat", 1 * H },    { "cest", 2 * H },    { "mest", 2 * H },    { "mesz", 2 * H },    { "eet", 2 * H },
	{ "sast", 2 * H },   { "cat", 2 * H },     { "eest", 3 * H },    { "msk", 3 * H },     { "мск", 3 * H },
	{ "eat", 3 * H },    { "trt", 3 * H },     { "irst", 3 * H + 1800 }, { "gst", 4 * H }, { "samt", 4 * H },
	{ "pkt", 5 * H },    { "yekt", 5 * H },    { "ist", 5 * H + 1800 }, { "npt", 5 * H + 2700 },
	{ "omst", 6 * H },   { "ict", 7 * H },     { "wib", 7 * H },     { "krat", 7 * H },    { "hkt", 8 * H },
	{ "sgt", 8 * H },    { "pht", 8 * H },     { "awst", 8 * H },    { "irkt", 8 * H },    { "jst", 9 * H },
	{ "kst", 9 * H },    { "yakt", 9 * H },    { "acst", 9 * H + 1800 }, { "aest", 10 * H },
	{ "vlat", 10 * H },  { "acdt", 10 * H + 1800 }, { "aedt", 11 * H }, { "magt", 11 * H },
	{ "nzst", 12 * H },  { "pett", 12 * H },   { "nzdt", 13 * H },   { "ndt", -2 * H - 1800 },
	{ "adt", -3 * H },   { "brt", -3 * H },    { "art", -3 * H },    { "nst", -3 * H - 1800 },
	{ "ast", -4 * H },   { "edt", -4 * H },    { "est", -5 * H },    { "cdt", -5 * H },    { "cst", -6 * H },
	{ "mdt", -6 * H },   { "mst", -7 * H },    { "pdt", -7 * H },    { "pst", -8 * H },    { "akdt", -8 * H },
	{ "akst", -9 * H },  { "hdt", -9 * H },    { "hst", -10 * H },
};
#undef H

/*
 * Copy S into BUF: every Unicode space becomes one ASCII space, runs
 * collapse, the ends are trimmed, and with LOWER ASCII and Cyrillic are
 * folded so the tables hold one spelling. -1 when it does not fit.
 */
static int normalize(const char *s, char *buf, size_t size, int lower)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0;
	int pending = 0;

	while (u[i]) {
		size_t len;
		uint32_t cp = (uint32_t)utf8_decode(u + i, &len);
		if (is_uspace(cp)) {
			pending = o > 0;
			i += len;
			continue;
		}
		if (o + (size_t)pending + len >= size)
			return -1;
		if (pending)
			buf[o++] = ' ';
		pending = 0;
		if (lower && cp < 0x80) {
			buf[o++] = (char)lower_cp(cp);
		} else if (lower && ((cp >= 0x0400 && cp <= 0x042F) || (cp >= 0xC0 && cp <= 0x17F))) {
			/* Folding stays inside U+00E0..U+017F and U+0430..U+045F:
			 * two bytes in, two out. */
			cp = lower_cp(cp);
			buf[o++] = (char)(0xC0 | (cp >> 6));
			buf[o++] = (char)(0x80 | (cp & 0x3F));
		} else {
			memcpy(buf + o, u + i, len);
			o += len;
		}
		i += len;
	}
	buf[o] = '\0';
	return 0;
}

static int at_boundary(const char *p)
{
	size_t len;
	return !*p || !(is_letter((uint32_t)utf8_decode((const unsigned char *)p, &len)) ||
			is_digit((unsigned char)*p));
}

static int eat(const char **pp, const char *lit)
{
	size_t n = strlen(lit);
	if (strncmp(*pp, lit, n) != 0)
		return 0;
	*pp += n;
	return 1;
}

static int eat_word(const char **pp, const char *w)
{
	const char *p = *pp;
	if (!eat(&p, w) || !at_boundary(p))
		return 0;
	*pp = p;
	return 1;
}

/* A whole run of MINLEN..MAXLEN digits (so "2026" is never read as "20"). */
static size_t eat_num(const char **pp, size_t minlen, size_t maxlen, int *v)
{
	const unsigned char *p = (const unsigned char *)*pp;
	size_t n = digit_run(p);
	int x = 0;

	if (n < minlen || n > maxlen)
		return 0;
	for (size_t k = 0; k < n; k++)
		x = x * 10 + (p[k] - '0');
	*v = x;
	*pp += n;
	return n;
}

/* A word of TABLE, with the dot of an abbreviation ("янв.", "Sat."). */
static int eat_name(const char **pp, const struct name *table, size_t n, int *val)
{
	for (size_t k = 0; k < n; k++) {
		if (eat_word(pp, table[k].word)) {
			if (**pp == '.')
				(*pp)++;
			*val = table[k].val;
			return 1;
		}
	}
	return 0;
}

/* A month (WEEKDAY 0) or weekday name of language LANG, or of any
 * language when LANG is NULL. */
static int eat_lang_name(const char **pp, const struct language *lang, int weekday, int *val)
{
	for (size_t k = 0; k < COUNT(languages); k++) {
		const struct language *l = &languages[k];
		if (lang && l != lang)
			continue;
		if (weekday ? eat_name(pp, l->weekdays, l->nweekdays, val) : eat_name(pp, l->months, l->nmonths, val))
			return 1;
	}
	return 0;
}

static int eat_month(const char **pp, int *mon)
{
	return eat_lang_name(pp, NULL, 0, mon);
}

/* The weekday is decoration: it is skipped, never checked against the date. */
static void eat_weekday(const char **pp)
{
	const char *p = *pp, *name_end;
	int v;

	if (!eat_lang_name(&p, NULL, 1, &v))
		return;
	name_end = p;
	if (*p == ',')
		p++;
	if (*p == ' ')
		p++;
	if (p != name_end && *p)
		*pp = p;
}

/* "1st", "2nd", "3rd", "4th"; French "1er"; Spanish and Portuguese "1º". */
static void eat_ordinal(const char **pp)
{
	static const char *const suffixes[] = {"st", "nd", "rd", "th", "er", "\xc2\xba"};
	for (size_t k = 0; k < COUNT(suffixes); k++)
		if (eat_word(pp, suffixes[k]))
			return;
}

static void eat_year_word(const char **pp)
{
	const char *p = *pp;
	if (*p == ' ')
		p++;
	if (eat_word(&p, "года") || eat_word(&p, "год") || eat_word(&p, "г") || eat_word(&p, "року") ||
	    eat_word(&p, "р") || eat_word(&p, "roku") || eat_word(&p, "r")) {
		if (*p == '.')
			p++;
		*pp = p;
	}
}

/* POSIX %y: 69-99 are the 1900s, 00-68 the 2000s. */
static int full_year(int yy)
{
	return yy >= 69 ? 1900 + yy : 2000 + yy;
}

/* Between a date and its time (or a time and its date): ", ", " в ", " at ", " | "… */
static int eat_sep(const char **pp)
{
	const char *p = *pp;
	int any = 0;

	for (;;) {
		if (*p == ' ' || *p == ',' || *p == '|' || *p == '-' || *p == '/' || *p == ';') {
			p++;
			any = 1;
		} else if (eat(&p, "\xe2\x80\x94") || eat(&p, "\xe2\x80\x93") || eat(&p, "\xc2\xb7") ||
			   eat(&p, "\xe2\x80\xa2")) {
			any = 1;
		} else if (!any || !(eat_word(&p, "в") || eat_word(&p, "at") || eat_word(&p, "um") ||
				     eat_word(&p, "à") || eat_word(&p, "às") || eat_word(&p, "as") ||
				     eat_word(&p, "a las") || eat_word(&p, "alle") || eat_word(&p, "ore") ||
				     eat_word(&p, "om") || eat_word(&p, "o") || eat_word(&p, "v") ||
				     eat_word(&p, "о") || eat_word(&p, "de"))) {
			break;
		}
	}
	if (!any)
		return 0;
	*pp = p;
	return 1;
}

/* A word that may follow a time: "14:30 Uhr", "14:30 ч.", "14:30 h". */
static void eat_time_word(const char **pp)
{
	const char *p = *pp;
	if (*p == ' ')
		p++;
	if (eat_word(&p, "uhr") || eat_word(&p, "ч") || eat_word(&p, "h") || eat_word(&p, "hrs") ||
	    eat_word(&p, "час") || eat_word(&p, "godz")) {
		if (*p == '.')
			p++;
		*pp = p;
	}
}

/* H:MM or HH:MM[:SS[.frac]], with an optional 12-hour am/pm; HHhMM and
 * HHh ("14h49", "14h"); with BASIC also ISO 8601's HHMM[SS] ("035500"). */
static int eat_time(const char **pp, struct dt *d, int basic)
{
	const char *p = *pp, *q;
	int h, m, s = 0, pm = -1;
	size_t n = digit_run((const unsigned char *)p);

	if (basic && (n == 4 || n == 6)) {
		int v;
		eat_num(&p, n, n, &v);
		h = n == 4 ? v / 100 : v / 10000;
		m = n == 4 ? v % 100 : v / 100 % 100;
		s = n == 4 ? 0 : v % 100;
		goto check;
	}
	if (!eat_num(&p, 1, 2, &h))
		return 0;
	if (*p == 'h' && !is_digit((unsigned char)p[1])) {
		p++;
		m = 0;
		if (!at_boundary(p))
			return 0;
		goto check;
	}
	if (*p != ':' && *p != 'h')
		return 0;
	p++;
	if (!eat_num(&p, 2, 2, &m))
		return 0;
	if (*p == ':' && is_digit((unsigned char)p[1])) {
		p++;
		if (!eat_num(&p, 2, 2, &s))
			return 0;
		if ((*p == '.' || *p == ',') && is_digit((unsigned char)p[1]))
			for (p++; is_digit((unsigned char)*p); p++)
				;
	}
	q = p;
	if (*q == ' ')
		q++;
	if (eat_word(&q, "am") || eat_word(&q, "a.m."))
		pm = 0;
	else if (eat_word(&q, "pm") || eat_word(&q, "p.m."))
		pm = 1;
	if (pm >= 0) {
		if (h < 1 || h > 12)
			return 0;
		h = h % 12 + (pm ? 12 : 0);
		p = q;
	}
check:
	if (h > 23 || m > 59 || s > 60)
		return 0;
	eat_time_word(&p);
	d->hour = h, d->min = m, d->sec = s;
	*pp = p;
	return 1;
}

/* +HH:MM, +HHMM, +HH; after "UTC"/"GMT" also a one-digit hour ("UTC+3"). */
static int eat_offset(const char **pp, long *off, int loose)
{
	const char *p = *pp;
	int sign, h, m = 0;
	size_t n;

	if (*p == '+')
		sign = 1;
	else if (*p == '-')
		sign = -1;
	else
		return 0;
	p++;
	n = digit_run((const unsigned char *)p);
	if (n == 4) {
		eat_num(&p, 4, 4, &h);
		m = h % 100;
		h /= 100;
	} else if (n == 2 || (loose && n == 1)) {
		eat_num(&p, 1, 2, &h);
		if (*p == ':' && digit_run((const unsigned char *)p + 1) == 2) {
			p++;
			eat_num(&p, 2, 2, &m);
		}
	} else {
		return 0;
	}
	if (h > 18 || m > 59)
		return 0;
	*off = sign * (h * 3600L + m * 60L);
	*pp = p;
	return 1;
}

static int eat_zone(const char **pp, struct dt *d)
{
	const char *p = *pp, *q;
	long off = 0, extra;
	int v;

	if (*p == ' ')
		p++;
	if (!eat_offset(&p, &off, 0)) {
		if (!eat_name(&p, zones, COUNT(zones), &v))
			return 0;
		off = v;
		if (v == 0 && eat_offset(&p, &extra, 1))
			off = extra;
	}
	/* RFC 2822 allows a comment after the zone: "+0300 (MSK)". */
	q = p;
	if (*q == ' ')
		q++;
	if (*q == '(') {
		const char *r = strchr(q, ')');
		if (r)
			p = r + 1;
	}
	d->has_off = 1;
	d->off = off;
	*pp = p;
	return 1;
}

/* The date part of any form; *ISO when it was YYYY-MM-DD (so 'T' may follow). */
static int eat_date(const char **pp, struct dt *d, int *iso, int order)
{
	const char *p = *pp, *q;
	size_t n, yl;
	int y;

	*iso = 0;
	if (eat_name(&p, relatives, COUNT(relatives), &d->rel)) {
		d->has_rel = 1;
		goto done;
	}
	if (eat_month(&p, &d->mon)) {
		if (*p != ' ')
			return 0;
		p++;
		if (!eat_num(&p, 1, 2, &d->day))
			return 0;
		eat_ordinal(&p);
		d->has_date = 1;
		q = p;
		if (*q == ',')
			q++;
		if (*q == ' ')
			q++;
		if (eat_num(&q, 4, 4, &d->year)) {
			d->has_year = 1;
			p = q;
		}
		goto done;
	}
	n = digit_run((const unsigned char *)p);
	if (n == 8 && p[8] == 't') { /* ISO 8601 basic: "20200316T035500Z" */
		int v;
		eat_num(&p, 8, 8, &v);
		d->year = v / 10000;
		d->mon = v / 100 % 100;
		d->day = v % 100;
		d->has_year = d->has_date = 1;
		*iso = 1;
		goto done;
	}
	if (n == 4 && (p[4] == '-' || p[4] == '/' || p[4] == '.')) {
		char sep = p[4];
		eat_num(&p, 4, 4, &d->year);
		p++;
		if (!eat_num(&p, 1, 2, &d->mon) || *p != sep)
			return 0;
		p++;
		if (!eat_num(&p, 1, 2, &d->day))
			return 0;
		d->has_year = d->has_date = 1;
		*iso = sep == '-';
		goto done;
	}
	if (n < 1 || n > 2)
		return 0;
	if (p[n] == '.' && is_digit((unsigned char)p[n + 1])) {
		size_t ml;
		eat_num(&p, 1, 2, &d->day);
		p++;
		if (!(ml = eat_num(&p, 1, 2, &d->mon)))
			return 0;
		d->has_date = 1;
		if (*p == '.' && is_digit((unsigned char)p[1])) {
			p++;
			yl = eat_num(&p, 2, 4, &y);
			if (yl == 2)
				y = full_year(y);
			else if (yl != 4)
				return 0;
			d->year = y;
			d->has_year = 1;
			eat_year_word(&p);
		} else {
			d->loose_dm = !(n == 2 && ml == 2);
		}
		goto done;
	}
	if ((p[n] == '/' || p[n] == '-') && is_digit((unsigned char)p[n + 1])) {
		/* D/M/YYYY or M/D/YYYY (and with '-'): a part above 12 is the
		 * day; otherwise ORDER says */
		char sep = p[n];
		int a, b;
		eat_num(&p, 1, 2, &a);
		p++;
		if (!eat_num(&p, 1, 2, &b) || *p != sep)
			return 0;
		p++;
		yl = eat_num(&p, 2, 4, &y);
		if (yl == 2)
			y = full_year(y);
		else if (yl != 4)
			return 0;
		int mdy = a <= 12 && (b > 12 || order == PARSE_MDY);
		d->day = mdy ? b : a;
		d->mon = mdy ? a : b;
		d->year = y;
		d->has_year = d->has_date = 1;
		goto done;
	}
	eat_num(&p, 1, 2, &d->day);
	eat_ordinal(&p);
	if (*p == '.') /* "19. Oktober 2019" */
		p++;
	if (*p == ' ')
		p++;
	q = p;
	if (eat_word(&q, "de") && *q == ' ') /* "17 de marzo de 2020" */
		p = q + 1;
	if (!eat_month(&p, &d->mon))
		return 0;
	d->has_date = 1;
	q = p;
	if (*q == ',')
		q++;
	if (*q == ' ')
		q++;
	if (eat_word(&q, "de") && *q == ' ')
		q++;
	/* Two digits are a year only when they are not the hour: "7 января 10:00". */
	yl = eat_num(&q, 2, 4, &y);
	if (yl == 4 || (yl == 2 && *q != ':' && *q != '.' && *q != 'h')) {
		d->year = yl == 2 ? full_year(y) : y;
		d->has_year = 1;
		p = q;
		eat_year_word(&p);
	}
done:
	*pp = p;
	return 1;
}

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Proleptic Gregorian days since 1970-01-01 (H. Hinnant's algorithm). */
static long long days_from_civil(long long y, int m, int d)
{
	long long era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* DAY may be out of range ("yesterday" of the 1st): both paths normalize it. */
static int to_time(const struct dt *d, int y, int m, int day, time_t *out)
{
	struct tm tm;
	time_t t;

	if (d->has_off) {
		long long s = days_from_civil(y, m, 1) + day - 1;
		*out = (time_t)(s * 86400 + d->hour * 3600 + d->min * 60 + d->sec - d->off);
		return 0;
	}
	memset(&tm, 0, sizeof tm);
	tm.tm_year = y - 1900;
	tm.tm_mon = m - 1;
	tm.tm_mday = day;
	tm.tm_hour = d->hour;
	tm.tm_min = d->min;
	tm.tm_sec = d->sec;
	tm.tm_isdst = -1; /* let the zone rules decide DST for that date */
	t = mktime(&tm);
	if (t == (time_t)-1)
		return -1;
	*out = t;
	return 0;
}

/* NOW's calendar date where the form's clock runs: its offset, else TZ. */
static int ref_date(const struct dt *d, time_t now, int *y, int *m, int *day)
{
	struct tm tm;
	time_t t = d->has_off ? now + d->off : now;

	if (!(d->has_off ? gmtime_r(&t, &tm) : localtime_r(&t, &tm)))
		return -1;
	*y = tm.tm_year + 1900;
	*m = tm.tm_mon + 1;
	*day = tm.tm_mday;
	return 0;
}

static int finalize(const struct dt *d, time_t now, time_t *out)
{
	int y, m, day;
	time_t t;

	if (d->hour < 0 || d->hour > 23 || d->min < 0 || d->min > 59 || d->sec < 0 || d->sec > 60)
		return -1;
	if (!d->has_date) {
		if (ref_date(d, now, &y, &m, &day) < 0 || to_time(d, y, m, day + d->rel, &t) < 0)
			return -1;
		if (!d->has_rel && t > now + PARSE_FUTURE_SLACK && to_time(d, y, m, day - 1, &t) < 0)
			return -1;
		*out = t;
		return 0;
	}
	if (d->mon < 1 || d->mon > 12 || d->day < 1)
		return -1;
	if (d->has_year) {
		if (d->year < 1000 || d->year > 9999 || d->day > days_in_month(d->year, d->mon))
			return -1;
		return to_time(d, d->year, d->mon, d->day, out);
	}
	/* 2000 was leap, so 29.02 gets through to the search for a leap year. */
	if (d->day > days_in_month(2000, d->mon) || ref_date(d, now, &y, &m, &day) < 0)
		return -1;
	/* Leap years are at most eight apart; y + 1 covers a zone ahead of TZ. */
	for (int yy = y + 1; yy >= y - 8; yy--) {
		if (d->day > days_in_month(yy, d->mon))
			continue;
		if (to_time(d, yy, d->mon, d->day, &t) < 0)
			return -1;
		if (t <= now + PARSE_FUTURE_SLACK) {
			*out = t;
			return 0;
		}
	}
	return -1;
}

/* Units of "N ... ago" / "N ... назад", in seconds. */
static const struct name ago_units[] = {
	{ "seconds", 1 },    { "second", 1 },    { "secs", 1 },      { "sec", 1 },       { "s", 1 },
	{ "секунд", 1 },     { "секунды", 1 },   { "секунду", 1 },   { "сек", 1 },
	{ "minutes", 60 },   { "minute", 60 },   { "mins", 60 },     { "min", 60 },      { "m", 60 },
	{ "минут", 60 },     { "минуты", 60 },   { "минуту", 60 },   { "мин", 60 },
	{ "hours", 3600 },   { "hour", 3600 },   { "hrs", 3600 },    { "hr", 3600 },     { "h", 3600 },
	{ "часов", 3600 },   { "часа", 3600 },   { "час", 3600 },    { "ч", 3600 },
	{ "days", 86400 },   { "day", 86400 },   { "d", 86400 },     { "дней", 86400 },  { "дня", 86400 },
	{ "день", 86400 },   { "weeks", 604800 }, { "week", 604800 }, { "недель", 604800 },
	{ "недели", 604800 }, { "неделю", 604800 }, { "неделя", 604800 },
};

/*
 * "35 минут назад", "2 часа назад", "39 mins ago", "3 hours ago", "an hour
 * ago", "час назад" (no number: one), "только что", "just now": NOW less
 * that many units, to the second. 0 with *OUT, or -1 when S is none.
 */
static int parse_ago(const char *s, time_t now, time_t *out)
{
	const char *p = s;
	int n = 1, unit;

	if (eat_word(&p, "только что") || eat_word(&p, "just now")) {
		*out = now;
		return *p ? -1 : 0;
	}
	/* without a number, only a singular: "an hour ago", "час назад" */
	static const struct name singular[] = {
		{ "секунду", 1 }, { "минуту", 60 }, { "час", 3600 }, { "день", 86400 }, { "неделю", 604800 },
	};
	if (is_digit((unsigned char)*p)) {
		if (!eat_num(&p, 1, 4, &n))
			return -1;
		if (*p == ' ')
			p++;
		if (!eat_name(&p, ago_units, COUNT(ago_units), &unit))
			return -1;
	} else if (eat_word(&p, "an") || eat_word(&p, "a") || eat_word(&p, "one")) {
		if (*p++ != ' ' || !eat_name(&p, ago_units, COUNT(ago_units), &unit))
			return -1;
	} else if (!eat_name(&p, singular, COUNT(singular), &unit)) {
		return -1;
	}
	if (*p == ' ')
		p++;
	if (!eat_word(&p, "ago") && !eat_word(&p, "назад"))
		return -1;
	if (*p)
		return -1;
	*out = now - (time_t)n * unit;
	return 0;
}

static int parse_builtin(const char *s, int order, time_t now, time_t *out)
{
	struct dt d;
	const char *p = s;
	size_t n;
	int iso;

	if (parse_ago(s, now, out) == 0)
		return 0;
	memset(&d, 0, sizeof d);
	eat_weekday(&p);
	n = digit_run((const unsigned char *)p);
	if (n >= 1 && n <= 2 && (p[n] == ':' || (p[n] == 'h' && (is_digit((unsigned char)p[n + 1]) || at_boundary(p + n + 1))))) {
		/* "10:15, 21 ноября 2026" or a bare "HH:MM" */
		if (!eat_time(&p, &d, 0))
			return -1;
		eat_zone(&p, &d);
		if (*p) {
			if (!eat_sep(&p))
				return -1;
			eat_weekday(&p);
			if (!eat_date(&p, &d, &iso, order))
				return -1;
		}
	} else {
		if (!eat_date(&p, &d, &iso, order))
			return -1;
		if (*p) {
			int basic = 0;
			if (iso && *p == 't')
				p++, basic = 1;
			else if (!eat_sep(&p))
				return -1;
			if (!eat_time(&p, &d, basic))
				return -1;
			eat_zone(&p, &d);
		} else if (d.loose_dm) {
			return -1;
		}
	}
	if (*p)
		return -1;
	return finalize(&d, now, out);
}

/* Whether F starts a directive of month names (%B, %b, %h: *WEEKDAY 0) or
 * weekday names (%A, %a: 1). */
static int word_directive(const char *f, int *weekday)
{
	if (f[0] != '%' || !f[1] || !strchr("BbhAa", f[1]))
		return 0;
	*weekday = f[1] == 'A' || f[1] == 'a';
	return 1;
}

/*
 * strptime(3) with FMT over RAW, except that month and weekday names are
 * the words of LANG's tables, whatever the C library's locale: FMT goes to
 * strptime a piece at a time, and each %B, %b, %h, %A or %a between the
 * pieces is matched in LOW, which is RAW folded by normalize() and so has
 * every character at the same byte offset. The end of the match, or NULL.
 */
static const char *match_format(const char *raw, const char *low, const char *fmt, const struct language *lang,
				struct tm *tm)
{
	char piece[DATE_MAX];
	const char *p = raw;
	size_t n = 0;
	int weekday = 0, v;

	for (const char *f = fmt;; f++) {
		int word = word_directive(f, &weekday);
		if (*f && !word) {
			/* a directive and its letter stay together: "%%B" is no %B */
			size_t k = *f == '%' && f[1] ? 2 : 1;
			if (n + k >= sizeof piece)
				return NULL;
			memcpy(piece + n, f, k);
			n += k;
			f += k - 1;
			continue;
		}
		piece[n] = '\0';
		if (n && !(p = strptime(p, piece, tm)))
			return NULL;
		n = 0;
		if (!*f)
			return p;
		const char *q = low + (p - raw);
		while (*q == ' ')
			q++;
		if (!eat_lang_name(&q, lang, weekday, &v))
			return NULL;
		/* the dot after "Okt." is the format's when it writes one */
		if (q[-1] == '.' && f[2] == '.')
			q--;
		if (!weekday)
			tm->tm_mon = v - 1;
		p = raw + (q - low);
		f++;
	}
}

/*
 * FMT (with RULES' language) over RAW, or with PREFIX over its start up to
 * a word's end ("21.11.2026 | Политика"). FMT's fields that strptime left
 * alone are unset: no year means the year is inferred, no day means a time
 * of today or yesterday, and %z (or %s) fills tm_gmtoff, which then
 * overrides TZ.
 */
static int parse_with_format(const char *raw, const char *low, const struct date_rules *rules, int prefix,
			     time_t now, time_t *out)
{
	struct tm tm;
	struct dt d;
	const char *end;

	memset(&tm, 0, sizeof tm);
	tm.tm_year = YEAR_UNSET;
	tm.tm_gmtoff = LONG_MIN;
	end = match_format(raw, low, rules->format, language_of(rules->language), &tm);
	if (!end)
		return -1;
	while (*end == ' ')
		end++;
	if (*end && (!prefix || end == raw || !(at_boundary(end) || at_boundary(end - 1))))
		return -1;
	memset(&d, 0, sizeof d);
	d.has_year = tm.tm_year != YEAR_UNSET;
	d.year = d.has_year ? tm.tm_year + 1900 : 0;
	d.mon = tm.tm_mon + 1;
	d.day = tm.tm_mday;
	d.has_date = tm.tm_mday != 0;
	if (d.has_year && !d.has_date)
		d.day = 1, d.has_date = 1;
	d.hour = tm.tm_hour;
	d.min = tm.tm_min;
	d.sec = tm.tm_sec;
	if (tm.tm_gmtoff != LONG_MIN) {
		if (tm.tm_gmtoff < -18 * 3600L || tm.tm_gmtoff > 18 * 3600L)
			return -1;
		d.has_off = 1;
		d.off = tm.tm_gmtoff;
	}
	return finalize(&d, now, out);
}

/* Whether a word starting at P separates a date from what follows it:
 * "· 14", "| Политика", "— ТАСС", "(обновлено ...)". */
static int is_separator_word(const char *p)
{
	static const char *const seps[] = {"\xc2\xb7", "\xe2\x80\x94", "\xe2\x80\x93", "\xe2\x80\xa2",
					   "|", "-", "/", "(", "[", ";"};
	for (size_t i = 0; i < sizeof seps / sizeof seps[0]; i++)
		if (!strncmp(p, seps[i], strlen(seps[i])))
			return 1;
	return 0;
}

/*
 * A date inside other text: after a label without digits ("Опубликовано:
 * 21.11.2026 в 10:00") and before a separator ("21.11 09:25 · 14",
 * "21 ноября 2026, Политика"). Only these cuts are tried, so that text
 * which merely starts like a date ("21.11.2026 24:00", "32 Nov 2026")
 * still fails instead of yielding a wrong time.
 */
static int parse_embedded(const char *low, int order, time_t now, time_t *out)
{
	char sub[DATE_MAX];
	size_t len = strlen(low), starts[32], ends[32], ns = 0, ne = 0;

	for (size_t i = 0; i < len && ns < 32; i++) {
		if (i > 0 && low[i - 1] == ' ')
			starts[ns++] = i;
		if (is_digit((unsigned char)low[i]))
			break; /* a label has no digits */
	}
	starts[ns < 32 ? ns++ : 31] = 0;
	ends[ne++] = len;
	for (size_t i = 1; i + 1 < len && ne < 32; i++) {
		if (low[i] == ' ' && is_separator_word(low + i + 1))
			ends[ne++] = i;
		else if (low[i] == ',' && low[i + 1] == ' ' && !is_digit((unsigned char)low[i + 2]))
			ends[ne++] = i;
	}
	for (size_t a = 0; a < ns; a++) {
		for (size_t b = 0; b < ne; b++) {
			if (ends[b] <= starts[a] || (starts[a] == 0 && ends[b] == len))
				continue;
			memcpy(sub, low + starts[a], ends[b] - starts[a]);
			sub[ends[b] - starts[a]] = '\0';
			if (parse_builtin(sub, order, now, out) == 0)
				return 0;
		}
	}
	return -1;
}

/*
 * In this order: the format over the whole string, the built-in forms over
 * the whole string, the format over a prefix, the built-in forms inside
 * other text. A format that reads only the date of "21.11.2026 09:25" so
 * leaves its time to the built-in forms.
 */
int parse_date(const char *s, const char *fmt, time_t now, time_t *out)
{
	const struct date_rules rules = { fmt, PARSE_DMY, NULL };
	return parse_date_rules(s, &rules, now, out);
}

int parse_date_rules(const char *s, const struct date_rules *rules, time_t now, time_t *out)
{
	char raw[DATE_MAX], low[DATE_MAX];
	/* Keeps the offset arithmetic on NOW far from overflow. */
	const time_t bound = (time_t)1 << 40;
	int fmt = rules && rules->format && *rules->format;
	int order = rules ? rules->order : PARSE_DMY;

	if (!s || !out || now > bound || now < -bound)
		return -1;
	if (normalize(s, raw, sizeof raw, 0) < 0 || !raw[0] || normalize(s, low, sizeof low, 1) < 0)
		return -1;
	if (fmt && parse_with_format(raw, low, rules, 0, now, out) == 0)
		return 0;
	if (parse_builtin(low, order, now, out) == 0)
		return 0;
	if (fmt && parse_with_format(raw, low, rules, 1, now, out) == 0)
		return 0;
	return parse_embedded(low, order, now, out);
}

int parse_language_known(const char *code)
{
	return code && language_of(code) != NULL;
}

const char *parse_languages(void)
{
	static char list[COUNT(languages) * 4];
	if (!list[0])
		for (size_t k = 0; k < COUNT(languages); k++)
			strcat(strcat(list, k ? ", " : ""), languages[k].code);
	return list;
}
