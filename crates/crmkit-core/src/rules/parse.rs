//! The text form of rules: a tokenizer and a recursive-descent parser whose errors say where
//! (line, column) and what was expected.

use rust_decimal::Decimal;

use super::{Cmp, IdentityPresence, Literal, Metric, Predicate, Rule, Value};
use crate::error::{Error, Result};
use crate::money::Currency;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    /// A number and the letters glued to it (`90d`).
    Num(Decimal, String),
    Sym(&'static str),
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(s) => format!("{s:?}"),
            Tok::Num(n, u) => format!("`{n}{u}`"),
            Tok::Sym(s) => format!("`{s}`"),
            Tok::End => "end of rule".into(),
        }
    }
}

struct Lexed {
    toks: Vec<(Tok, usize)>,
}

fn err_at(text: &str, offset: usize, message: String) -> Error {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() as u32 + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) as u32 + 1;
    Error::InvalidRule { line, column, message }
}

fn lex(text: &str) -> Result<Lexed> {
    let mut toks = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let tok = match c {
            b'(' | b')' | b',' | b'=' => {
                i += 1;
                Tok::Sym(match c {
                    b'(' => "(",
                    b')' => ")",
                    b',' => ",",
                    _ => "=",
                })
            }
            b'!' | b'<' | b'>' => {
                let eq = bytes.get(i + 1) == Some(&b'=');
                i += if eq { 2 } else { 1 };
                Tok::Sym(match (c, eq) {
                    (b'!', true) => "!=",
                    (b'<', true) => "<=",
                    (b'<', false) => "<",
                    (b'>', true) => ">=",
                    (b'>', false) => ">",
                    _ => return Err(err_at(text, start, "expected `!=`, found `!`".into())),
                })
            }
            b'"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(ch) = text[i..].chars().next() else {
                        return Err(err_at(text, start, "unterminated text: missing `\"`".into()));
                    };
                    i += ch.len_utf8();
                    match ch {
                        '"' => break,
                        '\\' => {
                            let Some(esc) = text[i..].chars().next() else { continue };
                            i += esc.len_utf8();
                            s.push(match esc {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                        other => s.push(other),
                    }
                }
                Tok::Str(s)
            }
            b'0'..=b'9' | b'-' | b'.' => {
                i += 1;
                while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                    i += 1;
                }
                let num = &text[start..i];
                let n: Decimal = num
                    .parse()
                    .map_err(|_| err_at(text, start, format!("`{num}` is not a number")))?;
                let unit_start = i;
                while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                    i += 1;
                }
                Tok::Num(n, text[unit_start..i].to_owned())
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || b"_.:-".contains(&bytes[i]))
                {
                    i += 1;
                }
                Tok::Ident(text[start..i].to_owned())
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(err_at(text, start, format!("unexpected character `{ch}`")));
            }
        };
        toks.push((tok, start));
    }
    toks.push((Tok::End, text.len()));
    Ok(Lexed { toks })
}

struct Parser<'a> {
    text: &'a str,
    toks: Vec<(Tok, usize)>,
    pos: usize,
}

pub(super) fn parse(text: &str) -> Result<Rule> {
    let Lexed { toks } = lex(text)?;
    let mut p = Parser { text, toks, pos: 0 };
    if p.peek() == &Tok::End {
        return Err(p.expected("a rule"));
    }
    let rule = p.or()?;
    if p.peek() != &Tok::End {
        return Err(p.expected("`and`, `or` or the end of the rule"));
    }
    Ok(rule)
}

impl Parser<'_> {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos.min(self.toks.len() - 1)].0
    }

    fn offset(&self) -> usize {
        self.toks[self.pos.min(self.toks.len() - 1)].1
    }

    fn bump(&mut self) -> Tok {
        let t = self.peek().clone();
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn expected(&self, what: &str) -> Error {
        err_at(
            self.text,
            self.offset(),
            format!("expected {what}, found {}", self.peek().describe()),
        )
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(s) if s.eq_ignore_ascii_case(w))
    }

    fn eat_word(&mut self, w: &str) -> bool {
        let yes = self.is_word(w);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn sym(&mut self, s: &'static str) -> Result<()> {
        if self.peek() == &Tok::Sym(s) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.expected(&format!("`{s}`")))
        }
    }

    fn or(&mut self) -> Result<Rule> {
        let mut v = vec![self.and()?];
        while self.eat_word("or") {
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 { v.remove(0) } else { Rule::Or(v) })
    }

    fn and(&mut self) -> Result<Rule> {
        let mut v = vec![self.not()?];
        while self.eat_word("and") {
            v.push(self.not()?);
        }
        Ok(if v.len() == 1 { v.remove(0) } else { Rule::And(v) })
    }

    fn not(&mut self) -> Result<Rule> {
        if self.eat_word("not") {
            return Ok(Rule::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn string(&mut self, what: &str) -> Result<String> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.expected(what)),
        }
    }

    fn ident(&mut self, what: &str) -> Result<String> {
        match self.peek().clone() {
            Tok::Ident(s) => {
                self.pos += 1;
                Ok(s.to_lowercase())
            }
            Tok::Str(s) => {
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.expected(what)),
        }
    }

    fn atom(&mut self) -> Result<Rule> {
        if self.peek() == &Tok::Sym("(") {
            self.pos += 1;
            let r = self.or()?;
            self.sym(")")?;
            return Ok(r);
        }
        let Tok::Ident(word) = self.peek().clone() else {
            return Err(self.expected("a predicate (e.g. `tag \"vip\"`, `p_alive < 0.3`) or `(`"));
        };
        let lower = word.to_lowercase();
        let simple = match lower.as_str() {
            "true" | "false" => {
                self.pos += 1;
                return Ok(Rule::Const(lower == "true"));
            }
            "tag" => {
                self.pos += 1;
                Predicate::Tag(self.string("a quoted tag, e.g. \"vip\"")?)
            }
            "segment" => {
                self.pos += 1;
                self.sym("(")?;
                let name = self.string("a quoted segment name")?;
                self.sym(")")?;
                Predicate::Segment(name)
            }
            "has" => {
                self.pos += 1;
                if self.eat_word("email") {
                    Predicate::Has(IdentityPresence::Email)
                } else if self.eat_word("phone") {
                    Predicate::Has(IdentityPresence::Phone)
                } else if self.eat_word("external") {
                    Predicate::Has(IdentityPresence::External(
                        self.string("a quoted system name, e.g. \"shopify\"")?,
                    ))
                } else {
                    return Err(self.expected("`email`, `phone` or `external \"SYSTEM\"`"));
                }
            }
            "consent" => {
                self.pos += 1;
                self.sym("(")?;
                let purpose = self.string("a quoted purpose, e.g. \"marketing\"")?;
                self.sym(",")?;
                let channel = self.ident("a channel, e.g. email")?;
                self.sym(")")?;
                Predicate::Consent { purpose, channel }
            }
            _ => return self.comparison().map(Rule::Pred),
        };
        Ok(Rule::Pred(simple))
    }

    fn kind(&mut self) -> Result<String> {
        self.ident("an interaction kind (purchase, refund, email, call, meeting, ticket_opened, ticket_resolved, web_visit, note, a custom kind, or any)")
    }

    fn days(&mut self) -> Result<u32> {
        let at = self.offset();
        match self.bump() {
            Tok::Num(n, unit) => {
                let per = match unit.as_str() {
                    "d" => 1,
                    "w" => 7,
                    _ => {
                        return Err(err_at(
                            self.text,
                            at,
                            format!("expected a duration such as 90d or 4w, found `{n}{unit}`"),
                        ));
                    }
                };
                let whole: Option<u32> = (n.fract().is_zero() && n > Decimal::ZERO)
                    .then(|| n.to_string().parse().ok())
                    .flatten();
                match whole.and_then(|d: u32| d.checked_mul(per)) {
                    Some(d) => Ok(d),
                    None => Err(err_at(
                        self.text,
                        at,
                        format!(
                            "`{n}{unit}`: a duration is a positive whole number of days or weeks"
                        ),
                    )),
                }
            }
            other => {
                self.pos -= usize::from(other != Tok::End);
                Err(self.expected("a duration such as 90d or 4w"))
            }
        }
    }

    fn value(&mut self) -> Result<Value> {
        let at = self.offset();
        let Tok::Ident(word) = self.bump() else {
            self.pos = self.pos.saturating_sub(1);
            return Err(
                self.expected("a value (e.g. `p_alive`, `attr.plan`, `count(purchase, 30d)`)")
            );
        };
        let lower = word.to_lowercase();
        if let Some(field) =
            lower.strip_prefix("attr.").or_else(|| lower.strip_prefix("attributes."))
        {
            // Field names keep their case.
            let field = &word[word.len() - field.len()..];
            return Ok(Value::Attr { field: field.to_owned() });
        }
        Ok(match lower.as_str() {
            "stage" => Value::Stage,
            "name" => Value::Name,
            "rfm.r" => Value::RfmR,
            "rfm.f" => Value::RfmF,
            "rfm.m" => Value::RfmM,
            "rfm.segment" => Value::RfmSegment,
            "p_alive" => Value::PAlive,
            "expected_purchases" => Value::ExpectedPurchases,
            "expected_spend" => Value::ExpectedSpend,
            "clv" => Value::Clv,
            "count" => {
                self.sym("(")?;
                let kind = self.kind()?;
                let window_days = if self.peek() == &Tok::Sym(",") {
                    self.pos += 1;
                    Some(self.days()?)
                } else {
                    None
                };
                self.sym(")")?;
                Value::Count { kind, window_days }
            }
            "sum" => {
                self.sym("(")?;
                let kind = self.kind()?;
                self.sym(",")?;
                let window_days = self.days()?;
                self.sym(")")?;
                Value::Sum { kind, window_days }
            }
            "days_since" => {
                self.sym("(")?;
                let kind = self.kind()?;
                self.sym(")")?;
                Value::DaysSince { kind }
            }
            "decile" => {
                self.sym("(")?;
                let m = self.ident("a metric: p_alive, expected_purchases, clv or monetary")?;
                let metric = Metric::ALL.into_iter().find(|x| x.name() == m).ok_or_else(|| {
                    err_at(
                        self.text,
                        self.toks[self.pos - 1].1,
                        format!("expected a metric: p_alive, expected_purchases, clv or monetary, found `{m}`"),
                    )
                })?;
                self.sym(")")?;
                Value::Decile { metric }
            }
            _ => {
                return Err(err_at(
                    self.text,
                    at,
                    format!(
                        "unknown value `{word}`: expected stage, name, attr.FIELD, count(..), sum(..), \
                         days_since(..), rfm.r, rfm.f, rfm.m, rfm.segment, p_alive, \
                         expected_purchases, expected_spend, clv or decile(..)"
                    ),
                ));
            }
        })
    }

    fn literal(&mut self) -> Result<Literal> {
        match self.peek().clone() {
            Tok::Str(s) => {
                self.pos += 1;
                Ok(Literal::Text(s))
            }
            Tok::Num(n, unit) if unit.is_empty() => {
                self.pos += 1;
                // `100 USD` is money.
                if let Tok::Ident(code) = self.peek().clone()
                    && code.len() == 3
                    && code.chars().all(|c| c.is_ascii_uppercase())
                {
                    let at = self.offset();
                    let currency: Currency = code
                        .parse()
                        .map_err(|_| err_at(self.text, at, format!("unknown currency `{code}`")))?;
                    self.pos += 1;
                    return Ok(Literal::Money { amount: n, currency });
                }
                Ok(Literal::Number(n))
            }
            Tok::Ident(w) if w.eq_ignore_ascii_case("true") || w.eq_ignore_ascii_case("false") => {
                self.pos += 1;
                Ok(Literal::Bool(w.eq_ignore_ascii_case("true")))
            }
            Tok::Ident(w) => {
                self.pos += 1;
                Ok(Literal::Text(w))
            }
            _ => Err(self.expected("a value to compare with")),
        }
    }

    fn comparison(&mut self) -> Result<Predicate> {
        let value = self.value()?;
        let cmp = match self.peek() {
            Tok::Sym("=") => Some(Cmp::Eq),
            Tok::Sym("!=") => Some(Cmp::Ne),
            Tok::Sym("<") => Some(Cmp::Lt),
            Tok::Sym("<=") => Some(Cmp::Le),
            Tok::Sym(">") => Some(Cmp::Gt),
            Tok::Sym(">=") => Some(Cmp::Ge),
            _ => None,
        };
        if let Some(cmp) = cmp {
            self.pos += 1;
            let literal = self.literal()?;
            return Ok(Predicate::Compare { value, cmp, literal });
        }
        if self.eat_word("in") {
            self.sym("(")?;
            let mut set = vec![self.literal()?];
            while self.peek() == &Tok::Sym(",") {
                self.pos += 1;
                set.push(self.literal()?);
            }
            self.sym(")")?;
            return Ok(Predicate::In { value, set });
        }
        if self.eat_word("contains") {
            let literal = self.literal()?;
            return Ok(Predicate::Contains { value, literal });
        }
        if self.eat_word("is") {
            let negated = self.eat_word("not");
            if !self.eat_word("empty") {
                return Err(self.expected("`empty`"));
            }
            // `x is not empty` is sugar for `not (x is empty)`; the caller sees one predicate.
            return Ok(if negated {
                Predicate::IsNotEmpty(value)
            } else {
                Predicate::IsEmpty(value)
            });
        }
        Err(self.expected("a comparison (=, !=, <, <=, >, >=), `in`, `contains` or `is empty`"))
    }
}
