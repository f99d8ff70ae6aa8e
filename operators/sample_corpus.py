"""A deterministic generator of a synthetic, multilingual, web-like text corpus.

It is the bundled sample of ``assay demo`` and the corpus of the benchmarks, at
any size. Every word comes from the tables in this file: clean documents are
prose built from per-language vocabularies and sentence templates (English,
French, German, Spanish, Italian, Portuguese), and the other kinds of record
imitate what a web crawl contains and a data pipeline has to catch.

Each record carries its ground truth in ``kind``:

- ``clean``: several paragraphs of prose on one topic (cooking, travel, ...).
- ``exact_dup``: the text of an earlier clean document, at most re-cased,
  re-punctuated or re-spaced.
- ``near_dup``: an earlier clean document with a few percent of its words
  inserted, deleted or substituted, or with a boilerplate footer added.
- ``boilerplate``: cookie banners, navigation menus, "click here" lists, link
  farms: what Gopher / C4 / FineWeb line and document rules remove.
- ``junk``: character soup, base64 blobs, repeated words, digit tables.
- ``pii``: a clean document full of personal data (names, addresses, e-mail
  addresses, phone numbers, Luhn-valid card numbers, IBANs, IPv4 addresses,
  US social security numbers), made by ``faker`` seeded per document.
- ``toxic``: a clean document with a few insulting lines.

``lang`` is the language the document was written in (``zxx`` for junk with no
language in it); :func:`generate_with_origins` also says which earlier document
each duplicate copies, to score deduplication against the truth.

Determinism: one ``random.Random(seed)`` stream drives the corpus, faker is
seeded per document from ``(seed, index)``, and duplicates copy from a bounded
reservoir of the most recent clean documents; so the same ``(n_docs, seed)``
gives the same bytes, the first ``k`` documents do not depend on ``n_docs``,
and memory stays flat however many documents are made.

Usage::

    python -m operators.sample_corpus corpus.jsonl.gz --docs 100000 --seed 1
"""

from __future__ import annotations

import argparse
import base64
import collections
import gzip
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from random import Random
from typing import BinaryIO

# --------------------------------------------------------------------------------------
# Mix
# --------------------------------------------------------------------------------------

LANGUAGES = ("en", "fr", "de", "es", "it", "pt")
LANGUAGE_WEIGHTS = (0.50, 0.15, 0.15, 0.12, 0.04, 0.04)
KINDS = ("clean", "exact_dup", "near_dup", "boilerplate", "junk", "pii", "toxic")
KIND_WEIGHTS = (0.60, 0.08, 0.08, 0.07, 0.05, 0.07, 0.05)
TOPICS = ("cooking", "travel", "software", "gardening", "history", "sport", "science", "music")

# Duplicates copy from the last RESERVOIR_SIZE clean documents: enough for dedup to
# have work across part boundaries, small enough that memory does not grow with n_docs.
RESERVOIR_SIZE = 2_000

# Language label of junk that has no natural language in it (ISO 639-2 "no linguistic content").
NO_LANGUAGE = "zxx"

# --------------------------------------------------------------------------------------
# Vocabulary tables. One row per concept, one column per language, in LANGUAGES order:
# en | fr | de | es | it | pt. Nouns end in their gender (m, f, n); adjectives give the
# masculine/feminine forms (one form when invariable) and, in French, "^" marks the few
# that go before the noun; German adjectives are stems that take case endings.
# --------------------------------------------------------------------------------------

_GENERAL_NOUNS = """
time | temps m | Zeit f | tiempo m | tempo m | tempo m
year | année f | Jahr n | año m | anno m | ano m
day | journée f | Tag m | día m | giorno m | dia m
week | semaine f | Woche f | semana f | settimana f | semana f
family | famille f | Familie f | familia f | famiglia f | família f
friend | ami m | Freund m | amigo m | amico m | amigo m
city | ville f | Stadt f | ciudad f | città f | cidade f
village | village m | Dorf n | pueblo m | villaggio m | aldeia f
house | maison f | Haus n | casa f | casa f | casa f
idea | idée f | Idee f | idea f | idea f | ideia f
question | question f | Frage f | pregunta f | domanda f | pergunta f
problem | problème m | Problem n | problema m | problema m | problema m
solution | solution f | Lösung f | solución f | soluzione f | solução f
example | exemple m | Beispiel n | ejemplo m | esempio m | exemplo m
group | groupe m | Gruppe f | grupo m | gruppo m | grupo m
project | projet m | Projekt n | proyecto m | progetto m | projeto m
plan | plan m | Plan m | plan m | piano m | plano m
result | résultat m | Ergebnis n | resultado m | risultato m | resultado m
method | méthode f | Methode f | método m | metodo m | método m
book | livre m | Buch n | libro m | libro m | livro m
story | histoire f | Geschichte f | historia f | storia f | história f
place | endroit m | Ort m | lugar m | luogo m | lugar m
world | monde m | Welt f | mundo m | mondo m | mundo m
country | pays m | Land n | país m | paese m | país m
region | région f | Region f | región f | regione f | região f
morning | matin m | Morgen m | mañana f | mattina f | manhã f
evening | soirée f | Abend m | noche f | sera f | noite f
teacher | professeur m | Lehrer m | profesor m | insegnante m | professor m
pupil | élève m | Schülerin f | alumno m | alunno m | aluno m
child | enfant m | Kind n | niño m | bambino m | criança f
company | entreprise f | Firma f | empresa f | azienda f | empresa f
team | équipe f | Team n | equipo m | squadra f | equipa f
price | prix m | Preis m | precio m | prezzo m | preço m
change | changement m | Veränderung f | cambio m | cambiamento m | mudança f
experience | expérience f | Erfahrung f | experiencia f | esperienza f | experiência f
moment | moment m | Moment m | momento m | momento m | momento m
choice | choix m | Wahl f | elección f | scelta f | escolha f
detail | détail m | Detail n | detalle m | dettaglio m | detalhe m
article | article m | Artikel m | artículo m | articolo m | artigo m
community | communauté f | Gemeinschaft f | comunidad f | comunità f | comunidade f
list | liste f | Liste f | lista f | lista f | lista f
door | porte f | Tür f | puerta f | porta f | porta f
window | fenêtre f | Fenster n | ventana f | finestra f | janela f
road | route f | Straße f | carretera f | strada f | estrada f
light | lumière f | Licht n | luz f | luce f | luz f
"""

_TOPIC_NOUNS = {
    "cooking": """
recipe | recette f | Rezept n | receta f | ricetta f | receita f
kitchen | cuisine f | Küche f | cocina f | cucina f | cozinha f
sauce | sauce f | Soße f | salsa f | salsa f | molho m
soup | soupe f | Suppe f | sopa f | zuppa f | sopa f
bread | pain m | Brot n | pan m | pane m | pão m
cheese | fromage m | Käse m | queso m | formaggio m | queijo m
oven | four m | Ofen m | horno m | forno m | forno m
pan | poêle f | Pfanne f | sartén f | padella f | frigideira f
onion | oignon m | Zwiebel f | cebolla f | cipolla f | cebola f
garlic | ail m | Knoblauch m | ajo m | aglio m | alho m
butter | beurre m | Butter f | mantequilla f | burro m | manteiga f
flour | farine f | Mehl n | harina f | farina f | farinha f
dish | plat m | Gericht n | plato m | piatto m | prato m
meal | repas m | Mahlzeit f | comida f | pasto m | refeição f
cook | cuisinier m | Koch m | cocinero m | cuoco m | cozinheiro m
spoon | cuillère f | Löffel m | cuchara f | cucchiaio m | colher f
knife | couteau m | Messer n | cuchillo m | coltello m | faca f
salt | sel m | Salz n | sal f | sale m | sal m
dough | pâte f | Teig m | masa f | impasto m | massa f
cake | gâteau m | Kuchen m | pastel m | torta f | bolo m
pepper | poivre m | Pfeffer m | pimienta f | pepe m | pimenta f
""",
    "travel": """
journey | voyage m | Reise f | viaje m | viaggio m | viagem f
train | train m | Zug m | tren m | treno m | comboio m
station | gare f | Bahnhof m | estación f | stazione f | estação f
hotel | hôtel m | Hotel n | hotel m | albergo m | hotel m
ticket | billet m | Fahrkarte f | billete m | biglietto m | bilhete m
map | carte f | Karte f | mapa m | mappa f | mapa m
suitcase | valise f | Koffer m | maleta f | valigia f | mala f
beach | plage f | Strand m | playa f | spiaggia f | praia f
mountain | montagne f | Berg m | montaña f | montagna f | montanha f
guide | guide m | Reiseführer m | guía m | guida f | guia m
airport | aéroport m | Flughafen m | aeropuerto m | aeroporto m | aeroporto m
flight | vol m | Flug m | vuelo m | volo m | voo m
border | frontière f | Grenze f | frontera f | confine m | fronteira f
island | île f | Insel f | isla f | isola f | ilha f
museum | musée m | Museum n | museo m | museo m | museu m
bridge | pont m | Brücke f | puente m | ponte m | ponte f
coast | côte f | Küste f | costa f | costa f | costa f
trip | excursion f | Ausflug m | excursión f | gita f | passeio m
traveller | voyageur m | Urlauber m | viajero m | viaggiatore m | viajante m
valley | vallée f | Tal n | valle m | valle f | vale m
""",
    "software": """
program | programme m | Programm n | programa m | programma m | programa m
computer | ordinateur m | Computer m | ordenador m | computer m | computador m
code | code m | Code m | código m | codice m | código m
server | serveur m | Server m | servidor m | server m | servidor m
database | base de données f | Datenbank f | base de datos f | banca dati f | base de dados f
file | fichier m | Datei f | archivo m | file m | ficheiro m
user | utilisateur m | Benutzer m | usuario m | utente m | utilizador m
developer | développeur m | Entwickler m | desarrollador m | sviluppatore m | programador m
version | version f | Version f | versión f | versione f | versão f
bug | bogue m | Fehler m | error m | errore m | erro m
interface | interface f | Oberfläche f | interfaz f | interfaccia f | interface f
network | réseau m | Netzwerk n | red f | rete f | rede f
function | fonction f | Funktion f | función f | funzione f | função f
test | test m | Test m | prueba f | prova f | teste m
update | mise à jour f | Aktualisierung f | actualización f | aggiornamento m | atualização f
library | bibliothèque f | Bibliothek f | biblioteca f | libreria f | biblioteca f
screen | écran m | Bildschirm m | pantalla f | schermo m | ecrã m
keyboard | clavier m | Tastatur f | teclado m | tastiera f | teclado m
tool | outil m | Werkzeug n | herramienta f | strumento m | ferramenta f
system | système m | System n | sistema m | sistema m | sistema m
""",
    "gardening": """
garden | jardin m | Garten m | jardín m | giardino m | jardim m
plant | plante f | Pflanze f | planta f | pianta f | planta f
flower | fleur f | Blume f | flor f | fiore m | flor f
tree | arbre m | Baum m | árbol m | albero m | árvore f
seed | graine f | Samen m | semilla f | seme m | semente f
soil | terre f | Erde f | tierra f | terra f | terra f
leaf | feuille f | Blatt n | hoja f | foglia f | folha f
root | racine f | Wurzel f | raíz f | radice f | raiz f
rose | rose f | Rose f | rosa f | rosa f | rosa f
tomato | tomate f | Tomate f | tomate m | pomodoro m | tomate m
watering can | arrosoir m | Gießkanne f | regadera f | annaffiatoio m | regador m
vegetable patch | potager m | Beet n | huerto m | orto m | horta f
compost | compost m | Kompost m | abono m | concime m | adubo m
rain | pluie f | Regen m | lluvia f | pioggia f | chuva f
spring | printemps m | Frühling m | primavera f | primavera f | primavera f
branch | branche f | Ast m | rama f | ramo m | ramo m
grass | herbe f | Gras n | césped m | erba f | relva f
fruit | fruit m | Frucht f | fruta f | frutto m | fruto m
shovel | pelle f | Schaufel f | pala f | pala f | pá f
greenhouse | serre f | Gewächshaus n | invernadero m | serra f | estufa f
water | eau f | Wasser n | riego m | acqua f | água f
""",
    "history": """
king | roi m | König m | rey m | re m | rei m
queen | reine f | Königin f | reina f | regina f | rainha f
war | guerre f | Krieg m | guerra f | guerra f | guerra f
empire | empire m | Reich n | imperio m | impero m | império m
castle | château m | Burg f | castillo m | castello m | castelo m
century | siècle m | Jahrhundert n | siglo m | secolo m | século m
battle | bataille f | Schlacht f | batalla f | battaglia f | batalha f
document | document m | Dokument n | documento m | documento m | documento m
register | registre m | Archiv n | archivo m | archivio m | arquivo m
treaty | traité m | Vertrag m | tratado m | trattato m | tratado m
revolution | révolution f | Revolution f | revolución f | rivoluzione f | revolução f
church | église f | Kirche f | iglesia f | chiesa f | igreja f
army | armée f | Armee f | ejército m | esercito m | exército m
ruler | souverain m | Herrscher m | gobernante m | sovrano m | governante m
historian | historien m | Historiker m | historiador m | storico m | historiador m
monument | monument m | Denkmal n | monumento m | monumento m | monumento m
trade | commerce m | Handel m | comercio m | commercio m | comércio m
kingdom | royaume m | Königreich n | reino m | regno m | reino m
wall | mur m | Mauer f | muralla f | muro m | muralha f
coin | pièce f | Münze f | moneda f | moneta f | moeda f
""",
    "sport": """
match | match m | Spiel n | partido m | partita f | jogo m
player | joueur m | Spieler m | jugador m | giocatore m | jogador m
ball | ballon m | Ball m | balón m | pallone m | bola f
coach | entraîneur m | Trainer m | entrenador m | allenatore m | treinador m
season | saison f | Saison f | temporada f | stagione f | época f
goal | but m | Tor n | gol m | gol m | golo m
stadium | stade m | Stadion n | estadio m | stadio m | estádio m
race | course f | Rennen n | carrera f | gara f | corrida f
training | entraînement m | Training n | entrenamiento m | allenamento m | treino m
victory | victoire f | Sieg m | victoria f | vittoria f | vitória f
defeat | défaite f | Niederlage f | derrota f | sconfitta f | derrota f
bicycle | vélo m | Fahrrad n | bicicleta f | bicicletta f | bicicleta f
pitch | terrain m | Platz m | campo m | campo m | campo m
club | club m | Verein m | club m | circolo m | clube m
supporter | supporter m | Fan m | aficionado m | tifoso m | adepto m
referee | arbitre m | Schiedsrichter m | árbitro m | arbitro m | árbitro m
medal | médaille f | Medaille f | medalla f | medaglia f | medalha f
competition | compétition f | Wettbewerb m | competición f | competizione f | competição f
muscle | muscle m | Muskel m | músculo m | muscolo m | músculo m
score | score m | Spielstand m | marcador m | punteggio m | marcador m
""",
    "science": """
experiment | expérience f | Experiment n | experimento m | esperimento m | experiência f
laboratory | laboratoire m | Labor n | laboratorio m | laboratorio m | laboratório m
theory | théorie f | Theorie f | teoría f | teoria f | teoria f
researcher | chercheur m | Forscher m | investigador m | ricercatore m | investigador m
cell | cellule f | Zelle f | célula f | cellula f | célula f
star | étoile f | Stern m | estrella f | stella f | estrela f
planet | planète f | Himmelskörper m | planeta m | pianeta m | planeta m
energy | énergie f | Energie f | energía f | energia f | energia f
sample | échantillon m | Probe f | muestra f | campione m | amostra f
measurement | mesure f | Messung f | medición f | misura f | medição f
microscope | microscope m | Mikroskop n | microscopio m | microscopio m | microscópio m
molecule | molécule f | Molekül n | molécula f | molecola f | molécula f
climate | climat m | Klima n | clima m | clima m | clima m
dataset | jeu de données m | Datensatz m | conjunto de datos m | insieme di dati m | conjunto de dados m
discovery | découverte f | Entdeckung f | descubrimiento m | scoperta f | descoberta f
model | modèle m | Modell n | modelo m | modello m | modelo m
study | étude f | Studie f | estudio m | studio m | estudo m
particle | particule f | Teilchen n | partícula f | particella f | partícula f
temperature | température f | Temperatur f | temperatura f | temperatura f | temperatura f
ocean | océan m | Ozean m | océano m | oceano m | oceano m
""",
    "music": """
song | chanson f | Lied n | canción f | canzone f | canção f
guitar | guitare f | Gitarre f | guitarra f | chitarra f | guitarra f
piano | piano m | Klavier n | piano m | pianoforte m | piano m
concert | concert m | Konzert n | concierto m | concerto m | concerto m
orchestra | orchestre m | Orchester n | orquesta f | orchestra f | orquestra f
singer | chanteur m | Sänger m | cantante m | cantante m | cantor m
melody | mélodie f | Melodie f | melodía f | melodia f | melodia f
rhythm | rythme m | Rhythmus m | ritmo m | ritmo m | ritmo m
album | album m | Album n | álbum m | album m | álbum m
stage | scène f | Bühne f | escenario m | palco m | palco m
voice | voix f | Stimme f | voz f | voce f | voz f
lesson | leçon f | Stunde f | lección f | lezione f | lição f
instrument | instrument m | Instrument n | instrumento m | strumento m | instrumento m
songwriter | compositeur m | Liedermacher m | compositor m | compositore m | compositor m
audience | public m | Publikum n | público m | pubblico m | público m
drum | tambour m | Trommel f | tambor m | tamburo m | tambor m
note | note f | Note f | nota f | nota f | nota f
violin | violon m | Geige f | violín m | violino m | violino m
festival | festival m | Festival n | festival m | festival m | festival m
record | disque m | Schallplatte f | disco m | disco m | disco m
""",
}

# "*" in the English column: also fits "it is ___ to do something".
_ADJECTIVES = """
small | ^petit/petite | klein | pequeño/pequeña | piccolo/piccola | pequeno/pequena
large | ^grand/grande | groß | grande | grande | grande
good | ^bon/bonne | gut | bueno/buena | buono/buona | bom/boa
new | neuf/neuve | neu | nuevo/nueva | nuovo/nuova | novo/nova
old | ancien/ancienne | alt | antiguo/antigua | antico/antica | antigo/antiga
*simple | simple | einfach | sencillo/sencilla | semplice | simples
*important | important/importante | wichtig | importante | importante | importante
modern | moderne | modern | moderno/moderna | moderno/moderna | moderno/moderna
beautiful | ^joli/jolie | schön | hermoso/hermosa | bello/bella | bonito/bonita
quiet | calme | ruhig | tranquilo/tranquila | tranquillo/tranquilla | tranquilo/tranquila
*difficult | difficile | schwierig | difícil | difficile | difícil
*easy | facile | leicht | fácil | facile | fácil
fresh | frais/fraîche | frisch | fresco/fresca | fresco/fresca | fresco/fresca
warm | chaud/chaude | warm | cálido/cálida | caldo/calda | quente
cold | froid/froide | kalt | frío/fría | freddo/fredda | frio/fria
long | long/longue | lang | largo/larga | lungo/lunga | longo/longa
short | court/courte | kurz | corto/corta | breve | curto/curta
strong | fort/forte | stark | fuerte | forte | forte
famous | célèbre | berühmt | famoso/famosa | famoso/famosa | famoso/famosa
popular | populaire | beliebt | popular | popolare | popular
*useful | utile | nützlich | útil | utile | útil
careful | soigneux/soigneuse | sorgfältig | cuidadoso/cuidadosa | attento/attenta | cuidadoso/cuidadosa
green | vert/verte | grün | verde | verde | verde
red | rouge | rot | rojo/roja | rosso/rossa | vermelho/vermelha
white | blanc/blanche | weiß | blanco/blanca | bianco/bianca | branco/branca
rich | riche | reich | rico/rica | ricco/ricca | rico/rica
clear | clair/claire | klar | claro/clara | chiaro/chiara | claro/clara
fast | rapide | schnell | rápido/rápida | veloce | rápido/rápida
slow | lent/lente | langsam | lento/lenta | lento/lenta | lento/lenta
young | ^jeune | jung | joven | giovane | jovem
natural | naturel/naturelle | natürlich | natural | naturale | natural
complete | complet/complète | vollständig | completo/completa | completo/completa | completo/completa
open | ouvert/ouverte | offen | abierto/abierta | aperto/aperta | aberto/aberta
bright | lumineux/lumineuse | hell | luminoso/luminosa | luminoso/luminosa | luminoso/luminosa
heavy | lourd/lourde | schwer | pesado/pesada | pesante | pesado/pesada
real | ^vrai/vraie | echt | verdadero/verdadera | vero/vera | verdadeiro/verdadeira
*practical | pratique | praktisch | práctico/práctica | pratico/pratica | prático/prática
traditional | traditionnel/traditionnelle | traditionell | tradicional | tradizionale | tradicional
precise | précis/précise | genau | preciso/precisa | preciso/precisa | preciso/precisa
*strange | étrange | seltsam | extraño/extraña | strano/strana | estranho/estranha
*pleasant | agréable | angenehm | agradable | piacevole | agradável
dry | sec/sèche | trocken | seco/seca | secco/secca | seco/seca
"""

# Transitive verbs: third person singular / infinitive. A "topic:" prefix ties a verb to
# the documents of that topic; the rest fit anywhere. German verbs are never separable,
# so that the verb-second and verb-final templates stay correct.
_VERBS = """
uses/use | utilise/utiliser | nutzt/nutzen | usa/usar | usa/usare | usa/usar
needs/need | nécessite/nécessiter | braucht/brauchen | necesita/necesitar | richiede/richiedere | necessita/necessitar
finds/find | trouve/trouver | findet/finden | encuentra/encontrar | trova/trovare | encontra/encontrar
shows/show | montre/montrer | zeigt/zeigen | muestra/mostrar | mostra/mostrare | mostra/mostrar
changes/change | modifie/modifier | verändert/verändern | cambia/cambiar | cambia/cambiare | muda/mudar
describes/describe | décrit/décrire | beschreibt/beschreiben | describe/describir | descrive/descrivere | descreve/descrever
explains/explain | explique/expliquer | erklärt/erklären | explica/explicar | spiega/spiegare | explica/explicar
improves/improve | améliore/améliorer | verbessert/verbessern | mejora/mejorar | migliora/migliorare | melhora/melhorar
chooses/choose | choisit/choisir | wählt/wählen | elige/elegir | sceglie/scegliere | escolhe/escolher
visits/visit | visite/visiter | besucht/besuchen | visita/visitar | visita/visitare | visita/visitar
builds/build | construit/construire | baut/bauen | construye/construir | costruisce/costruire | constrói/construir
follows/follow | suit/suivre | verfolgt/verfolgen | sigue/seguir | segue/seguire | segue/seguir
shares/share | partage/partager | teilt/teilen | comparte/compartir | condivide/condividere | partilha/partilhar
protects/protect | protège/protéger | schützt/schützen | protege/proteger | protegge/proteggere | protege/proteger
discovers/discover | découvre/découvrir | entdeckt/entdecken | descubre/descubrir | scopre/scoprire | descobre/descobrir
opens/open | ouvre/ouvrir | öffnet/öffnen | abre/abrir | apre/aprire | abre/abrir
keeps/keep | garde/garder | behält/behalten | guarda/guardar | conserva/conservare | guarda/guardar
loves/love | aime/aimer | liebt/lieben | ama/amar | ama/amare | adora/adorar
compares/compare | compare/comparer | vergleicht/vergleichen | compara/comparar | confronta/confrontare | compara/comparar
creates/create | crée/créer | erstellt/erstellen | crea/crear | crea/creare | cria/criar
replaces/replace | remplace/remplacer | ersetzt/ersetzen | reemplaza/reemplazar | sostituisce/sostituire | substitui/substituir
cleans/clean | nettoie/nettoyer | reinigt/reinigen | limpia/limpiar | pulisce/pulire | limpa/limpar
carries/carry | porte/porter | trägt/tragen | lleva/llevar | porta/portare | leva/levar
watches/watch | regarde/regarder | beobachtet/beobachten | observa/observar | osserva/osservare | observa/observar
organizes/organize | organise/organiser | organisiert/organisieren | organiza/organizar | organizza/organizzare | organiza/organizar
supports/support | soutient/soutenir | unterstützt/unterstützen | apoya/apoyar | sostiene/sostenere | apoia/apoiar
reads/read | lit/lire | liest/lesen | lee/leer | legge/leggere | lê/ler
writes/write | écrit/écrire | schreibt/schreiben | escribe/escribir | scrive/scrivere | escreve/escrever
cooking: cooks/cook | cuisine/cuisiner | kocht/kochen | cocina/cocinar | cucina/cucinare | cozinha/cozinhar
cooking: bakes/bake | cuit/cuire | backt/backen | hornea/hornear | cuoce/cuocere | assa/assar
cooking: tastes/taste | goûte/goûter | probiert/probieren | saborea/saborear | assaggia/assaggiare | prova/provar
cooking: cuts/cut | coupe/couper | schneidet/schneiden | corta/cortar | taglia/tagliare | corta/cortar
cooking: serves/serve | sert/servir | serviert/servieren | sirve/servir | serve/servire | serve/servir
travel: explores/explore | explore/explorer | erkundet/erkunden | explora/explorar | esplora/esplorare | explora/explorar
travel: books/book | réserve/réserver | bucht/buchen | reserva/reservar | prenota/prenotare | reserva/reservar
travel: crosses/cross | traverse/traverser | überquert/überqueren | cruza/cruzar | attraversa/attraversare | atravessa/atravessar
travel: photographs/photograph | photographie/photographier | fotografiert/fotografieren | fotografía/fotografiar | fotografa/fotografare | fotografa/fotografar
software: installs/install | installe/installer | installiert/installieren | instala/instalar | installa/installare | instala/instalar
software: fixes/fix | corrige/corriger | behebt/beheben | corrige/corregir | corregge/correggere | corrige/corrigir
software: tests/test | teste/tester | testet/testen | prueba/probar | prova/provare | testa/testar
software: deploys/deploy | déploie/déployer | verteilt/verteilen | despliega/desplegar | distribuisce/distribuire | implementa/implementar
gardening: plants/plant | plante/planter | pflanzt/pflanzen | planta/plantar | pianta/piantare | planta/plantar
gardening: waters/water | arrose/arroser | gießt/gießen | riega/regar | annaffia/annaffiare | rega/regar
gardening: prunes/prune | taille/tailler | schneidet/schneiden | poda/podar | pota/potare | poda/podar
gardening: harvests/harvest | récolte/récolter | erntet/ernten | cosecha/cosechar | raccoglie/raccogliere | colhe/colher
history: conquers/conquer | conquiert/conquérir | erobert/erobern | conquista/conquistar | conquista/conquistare | conquista/conquistar
history: defends/defend | défend/défendre | verteidigt/verteidigen | defiende/defender | difende/difendere | defende/defender
history: rules/rule | gouverne/gouverner | regiert/regieren | gobierna/gobernar | governa/governare | governa/governar
history: signs/sign | signe/signer | unterschreibt/unterschreiben | firma/firmar | firma/firmare | assina/assinar
sport: wins/win | gagne/gagner | gewinnt/gewinnen | gana/ganar | vince/vincere | ganha/ganhar
sport: trains/train | entraîne/entraîner | trainiert/trainieren | entrena/entrenar | allena/allenare | treina/treinar
sport: loses/lose | perd/perdre | verliert/verlieren | pierde/perder | perde/perdere | perde/perder
sport: kicks/kick | frappe/frapper | schießt/schießen | chuta/chutar | calcia/calciare | chuta/chutar
science: measures/measure | mesure/mesurer | misst/messen | mide/medir | misura/misurare | mede/medir
science: analyses/analyse | analyse/analyser | analysiert/analysieren | analiza/analizar | analizza/analizzare | analisa/analisar
science: observes/observe | observe/observer | untersucht/untersuchen | estudia/estudiar | studia/studiare | estuda/estudar
science: calculates/calculate | calcule/calculer | berechnet/berechnen | calcula/calcular | calcola/calcolare | calcula/calcular
music: plays/play | joue/jouer | spielt/spielen | toca/tocar | suona/suonare | toca/tocar
music: sings/sing | chante/chanter | singt/singen | canta/cantar | canta/cantare | canta/cantar
music: records/record | enregistre/enregistrer | speichert/speichern | graba/grabar | registra/registrare | grava/gravar
music: composes/compose | compose/composer | komponiert/komponieren | compone/componer | compone/comporre | compõe/compor
"""

_ADVERBS = """
often | souvent | oft | a menudo | spesso | frequentemente
usually | généralement | normalerweise | normalmente | di solito | normalmente
sometimes | parfois | manchmal | a veces | a volte | às vezes
rarely | rarement | selten | rara vez | raramente | raramente
always | toujours | immer | siempre | sempre | sempre
carefully | soigneusement | sorgfältig | con cuidado | con cura | com cuidado
quickly | rapidement | schnell | rápidamente | rapidamente | rapidamente
slowly | lentement | langsam | lentamente | lentamente | lentamente
finally | finalement | schließlich | finalmente | finalmente | finalmente
still | encore | noch | todavía | ancora | ainda
also | aussi | auch | también | anche | também
already | déjà | bereits | ya | già | já
"""

# Sentence openers. German ones are followed by the verb (verb-second), the others by a comma.
_TIME_PHRASES = """
every morning | chaque matin | jeden Morgen | cada mañana | ogni mattina | todas as manhãs
in the evening | le soir | am Abend | por la noche | la sera | à noite
last year | l'année dernière | letztes Jahr | el año pasado | l'anno scorso | no ano passado
at the weekend | le week-end | am Wochenende | el fin de semana | nel fine settimana | ao fim de semana
in the summer | en été | im Sommer | en verano | d'estate | no verão
in the winter | en hiver | im Winter | en invierno | d'inverno | no inverno
for many years | depuis des années | seit vielen Jahren | desde hace años | da molti anni | há muitos anos
today | aujourd'hui | heute | hoy | oggi | hoje
after the rain | après la pluie | nach dem Regen | después de la lluvia | dopo la pioggia | depois da chuva
at first | au début | am Anfang | al principio | all'inizio | no início
now | maintenant | jetzt | ahora | adesso | agora
in the afternoon | l'après-midi | am Nachmittag | a media tarde | nel pomeriggio | à tarde
"""

_CONNECTORS = """
however | cependant | trotzdem | sin embargo | tuttavia | no entanto
in addition | de plus | außerdem | además | inoltre | além disso
for this reason | pour cette raison | deshalb | por esta razón | per questo motivo | por esta razão
in practice | en pratique | in der Praxis | en la práctica | in pratica | na prática
of course | bien sûr | natürlich | por supuesto | naturalmente | claro
on the other hand | en revanche | andererseits | por otro lado | d'altra parte | por outro lado
in general | en général | im Allgemeinen | en general | in generale | em geral
then | ensuite | danach | luego | poi | depois
"""

# Openers of reported speech, each followed by "that" in the templates.
_OPINIONS = """
many people think | beaucoup pensent | viele denken | mucha gente piensa | molti pensano | muitas pessoas pensam
some say | certains disent | manche sagen | algunos dicen | alcuni dicono | alguns dizem
we know | nous savons | wir wissen | sabemos | sappiamo | sabemos
everyone agrees | tout le monde sait | jeder weiß | todos saben | tutti sanno | toda a gente sabe
it seems | on dit | es scheint | parece | si dice | parece
I believe | je crois | ich glaube | creo | è chiaro | acho
"""

# Given names (gender after the name) and cities, per language.
_NAMES = {
    "en": "James m, Emma f, Oliver m, Sarah f, Daniel m, Grace f, Henry m, Lucy f",
    "fr": "Marie f, Thomas m, Camille f, Julien m, Claire f, Nicolas m, Léa f, Antoine m",
    "de": "Anna f, Lukas m, Julia f, Jonas m, Katrin f, Matthias m, Lena f, Stefan m",
    "es": "Lucía f, Pablo m, Carmen f, Javier m, Elena f, Diego m, Marta f, Sergio m",
    "it": "Giulia f, Marco m, Francesca f, Luca m, Chiara f, Matteo m, Sara f, Davide m",
    "pt": "Beatriz f, João m, Inês f, Tiago m, Mariana f, Rui m, Sofia f, Miguel m",
}
_CITIES = {
    "en": "London, Boston, Leeds, Chicago, Bristol, Denver",
    "fr": "Lyon, Nantes, Bordeaux, Lille, Rennes, Grenoble",
    "de": "Hamburg, München, Leipzig, Köln, Bremen, Dresden",
    "es": "Sevilla, Valencia, Bilbao, Granada, Zaragoza, Málaga",
    "it": "Torino, Bologna, Napoli, Verona, Padova, Genova",
    "pt": "Lisboa, Braga, Coimbra, Faro, Aveiro, Évora",
}

# Sentence templates. Slots: S subject, O object (Sd/Od: with the definite article),
# of/with/in/for prepositional phrases, V verb, Vi infinitive, A predicate adjective
# agreeing with the last subject, Am its masculine form (impersonal uses), ADV adverb,
# T time phrase, C connector, SAY an opener of reported speech, N a person's name (a
# subject), CITY "in <city>", YEAR a year, REL a relative pronoun agreeing with the last
# subject. No template has four fixed words in a row: documents must not share word
# 5-grams by construction, nor repeat long n-grams (Gopher's repetition rules).
_TEMPLATES = {
    "en": [
        "{S} {V} {O}.",
        "{S} {ADV} {V} {O} {with}.",
        "{S} {V} {O} {of} {in}.",
        "{T}, {S} {V} {O}.",
        "{C}, {S} {V} {O} {for}.",
        "{S} is {A}, and {S} {V} {O}.",
        "{S} {of} is {A} and {A}.",
        "We have to {Vi} {O} before we {Vi} {O}.",
        "You should {ADV} {Vi} {O} {with}.",
        "{N} {V} {O} {CITY}.",
        "{N} wants to {Vi} {O}, but {S} is {A}.",
        "{S} that {V} {O} will be {A}.",
        "It is {Am} to {Vi} {O} {in}.",
        "Why does {Sd} {Vi} {O}?",
        "{S} can {Vi} {O} {for}, and {S} {ADV} {V} {O}.",
        "In {YEAR}, {S} {V} {O} {of}.",
        "{SAY} that {S} {V} {O}.",
        "{Sd} does not {Vi} {Od}.",
        "If {S} {V} {O}, {S} will be {A}.",
        "{S} {V} {O} because {S} {V} {O}.",
        "I like to {Vi} {O} {T}.",
        "Without {O}, {S} cannot {Vi} {O}.",
        "{S} has {O} {with}.",
        "{S} is {A}.",
        "There is {O} {in}, and {S} {V} it.",
        "{N} says that {S} {of} is {A}.",
    ],
    "fr": [
        "{S} {V} {O}.",
        "{S} {V} {ADV} {O} {with}.",
        "{S} {V} {O} {of} {in}.",
        "{T}, {S} {V} {O}.",
        "{C}, {S} {V} {O} {for}.",
        "{S} est {A}, et {S} {V} {O}.",
        "{S} {of} est {A} et {A}.",
        "Nous devons {Vi} {O} avant de {Vi} {O}.",
        "Vous devriez {ADV} {Vi} {O} {with}.",
        "{N} {V} {O} {CITY}.",
        "{N} veut {Vi} {O}, mais {S} est {A}.",
        "{S} qui {V} {O} sera {A}.",
        "Il est {Am} de {Vi} {O} {in}.",
        "Pourquoi est-ce que {Sd} {V} {O} ?",
        "{S} peut {Vi} {O} {for}, et {S} {V} {ADV} {O}.",
        "En {YEAR}, {S} {V} {O} {of}.",
        "{SAY} que {S} {V} {O}.",
        "{Sd} ne {V} pas {Od}.",
        "Si {S} {V} {O}, {S} sera {A}.",
        "{S} {V} {O} parce que {S} {V} {O}.",
        "J'aime {Vi} {O} {T}.",
        "Sans {O}, {S} ne peut pas {Vi} {O}.",
        "{S} a {O} {with}.",
        "{S} est {A}.",
        "Il y a {O} {in}, et {S} le {V}.",
        "{N} dit que {S} {of} est {A}.",
    ],
    "de": [
        "{S} {V} {O}.",
        "{S} {V} {ADV} {O} {with}.",
        "{S} {V} {O} {of} {in}.",
        "{T} {V} {S} {O}.",
        "{C} {V} {S} {O} {for}.",
        "{S} ist {A}, und {S} {V} {O}.",
        "{S} {of} ist {A} und {A}.",
        "Wir müssen {O} {Vi}, bevor wir {O} {Vi}.",
        "Sie sollten {O} {ADV} {with} {Vi}.",
        "{N} {V} {O} {CITY}.",
        "{N} möchte {O} {Vi}, aber {S} ist {A}.",
        "{S}, {REL} {O} {V}, wird {A} sein.",
        "Es ist {Am}, {O} {in} zu {Vi}.",
        "Warum {V} {Sd} {O}?",
        "{S} kann {O} {for} {Vi}, und {S} {V} {ADV} {O}.",
        "Im Jahr {YEAR} {V} {S} {O} {of}.",
        "{SAY}, dass {S} {O} {V}.",
        "{Sd} {V} {Od} nicht.",
        "Wenn {S} {O} {V}, ist {S} {A}.",
        "{S} {V} {O}, weil {S} {O} {V}.",
        "Ich möchte {O} {T} {Vi}.",
        "Ohne {O} kann {S} {O} nicht {Vi}.",
        "{S} hat {O} {with}.",
        "{S} ist {A}.",
        "Es gibt {O} {in}, und {S} {V} es.",
        "{N} sagt, dass {S} {of} {A} ist.",
    ],
    "es": [
        "{S} {V} {O}.",
        "{S} {V} {ADV} {O} {with}.",
        "{S} {V} {O} {of} {in}.",
        "{T}, {S} {V} {O}.",
        "{C}, {S} {V} {O} {for}.",
        "{S} es {A}, y {S} {V} {O}.",
        "{S} {of} es {A} y {A}.",
        "Tenemos que {Vi} {O} antes de {Vi} {O}.",
        "Deberías {Vi} {ADV} {O} {with}.",
        "{N} {V} {O} {CITY}.",
        "{N} quiere {Vi} {O}, pero {S} es {A}.",
        "{S} que {V} {O} será {A}.",
        "Es {Am} {Vi} {O} {in}.",
        "¿Por qué {V} {Sd} {O}?",
        "{S} puede {Vi} {O} {for}, y {S} {V} {ADV} {O}.",
        "En {YEAR}, {S} {V} {O} {of}.",
        "{SAY} que {S} {V} {O}.",
        "{Sd} no {V} {Od}.",
        "Si {S} {V} {O}, {S} será {A}.",
        "{S} {V} {O} porque {S} {V} {O}.",
        "Me gusta {Vi} {O} {T}.",
        "Sin {O}, {S} no puede {Vi} {O}.",
        "{S} tiene {O} {with}.",
        "{S} es {A}.",
        "Hay {O} {in}, y {S} lo {V}.",
        "{N} dice que {S} {of} es {A}.",
    ],
    "it": [
        "{S} {V} {O}.",
        "{S} {V} {ADV} {O} {with}.",
        "{S} {V} {O} {of} {in}.",
        "{T}, {S} {V} {O}.",
        "{C}, {S} {V} {O} {for}.",
        "{S} è {A}, e {S} {V} {O}.",
        "{S} {of} è {A} e {A}.",
        "Dobbiamo {Vi} {O} prima di {Vi} {O}.",
        "Dovresti {Vi} {ADV} {O} {with}.",
        "{N} {V} {O} {CITY}.",
        "{N} vuole {Vi} {O}, ma {S} è {A}.",
        "{S} che {V} {O} sarà {A}.",
        "È {Am} {Vi} {O} {in}.",
        "Perché {Sd} {V} {O}?",
        "{S} può {Vi} {O} {for}, e {S} {V} {ADV} {O}.",
        "Nel {YEAR} {S} {V} {O} {of}.",
        "{SAY} che {S} {V} {O}.",
        "{Sd} non {V} {Od}.",
        "Se {S} {V} {O}, {S} sarà {A}.",
        "{S} {V} {O} perché {S} {V} {O}.",
        "Mi piace {Vi} {O} {T}.",
        "Senza {O}, {S} non può {Vi} {O}.",
        "{S} ha {O} {with}.",
        "{S} è {A}.",
        "C'è {O} {in}, e {S} lo {V}.",
        "{N} dice che {S} {of} è {A}.",
    ],
    "pt": [
        "{S} {V} {O}.",
        "{S} {V} {ADV} {O} {with}.",
        "{S} {V} {O} {of} {in}.",
        "{T}, {S} {V} {O}.",
        "{C}, {S} {V} {O} {for}.",
        "{S} é {A}, e {S} {V} {O}.",
        "{S} {of} é {A} e {A}.",
        "Temos de {Vi} {O} antes de {Vi} {O}.",
        "Devias {Vi} {ADV} {O} {with}.",
        "{N} {V} {O} {CITY}.",
        "{N} quer {Vi} {O}, mas {S} é {A}.",
        "{S} que {V} {O} será {A}.",
        "É {Am} {Vi} {O} {in}.",
        "Porque é que {Sd} {V} {O}?",
        "{S} pode {Vi} {O} {for}, e {S} {V} {ADV} {O}.",
        "Em {YEAR}, {S} {V} {O} {of}.",
        "{SAY} que {S} {V} {O}.",
        "{Sd} não {V} {Od}.",
        "Se {S} {V} {O}, {S} será {A}.",
        "{S} {V} {O} porque {S} {V} {O}.",
        "Gosto de {Vi} {O} {T}.",
        "Sem {O}, {S} não pode {Vi} {O}.",
        "{S} tem {O} {with}.",
        "{S} é {A}.",
        "Há {O} {in}, e {S} {V} isso.",
        "{N} diz que {S} {of} é {A}.",
    ],
}

# --------------------------------------------------------------------------------------
# Boilerplate, toxic and PII tables (same column order).
# --------------------------------------------------------------------------------------

_NAV_ITEMS = """
Home | Accueil | Startseite | Inicio | Home | Início
About us | À propos | Über uns | Sobre nosotros | Chi siamo | Sobre nós
Contact | Contact | Kontakt | Contacto | Contatti | Contactos
Blog | Blog | Blog | Blog | Blog | Blog
Shop | Boutique | Shop | Tienda | Negozio | Loja
Log in | Connexion | Anmelden | Iniciar sesión | Accedi | Entrar
Sign up | S'inscrire | Registrieren | Registrarse | Registrati | Registar
Search | Rechercher | Suche | Buscar | Cerca | Pesquisar
Newsletter | Newsletter | Newsletter | Boletín | Newsletter | Newsletter
FAQ | FAQ | FAQ | Preguntas frecuentes | FAQ | Perguntas frequentes
Careers | Carrières | Karriere | Empleo | Lavora con noi | Carreiras
Help | Aide | Hilfe | Ayuda | Aiuto | Ajuda
Cart | Panier | Warenkorb | Carrito | Carrello | Carrinho
My account | Mon compte | Mein Konto | Mi cuenta | Il mio account | A minha conta
Privacy policy | Politique de confidentialité | Datenschutz | Política de privacidad | Privacy | Política de privacidade
Terms of use | Conditions d'utilisation | Nutzungsbedingungen | Términos de uso | Termini di utilizzo | Termos de utilização
Sitemap | Plan du site | Sitemap | Mapa del sitio | Mappa del sito | Mapa do site
"""

# A cookie banner, per language (the last line is the one C4's "javascript" rule catches).
_COOKIE_BANNERS = {
    "en": (
        "We use cookies to improve your experience on our website.",
        "By continuing to browse, you accept our cookie policy.",
        "Accept all / Reject all / Manage preferences",
        "Please enable JavaScript to view this page.",
    ),
    "fr": (
        "Nous utilisons des cookies pour améliorer votre expérience sur notre site.",
        "En poursuivant votre navigation, vous acceptez notre politique cookies.",
        "Tout accepter / Tout refuser / Gérer les préférences",
        "Veuillez activer JavaScript pour afficher cette page.",
    ),
    "de": (
        "Wir verwenden Cookies, um Ihre Erfahrung auf unserer Website zu verbessern.",
        "Wenn Sie weitersurfen, akzeptieren Sie unsere Cookie-Richtlinie.",
        "Alle akzeptieren / Alle ablehnen / Einstellungen verwalten",
        "Bitte aktivieren Sie JavaScript, um diese Seite anzuzeigen.",
    ),
    "es": (
        "Utilizamos cookies para mejorar su experiencia en nuestro sitio web.",
        "Si continúa navegando, acepta nuestra política de cookies.",
        "Aceptar todo / Rechazar todo / Gestionar preferencias",
        "Active JavaScript para ver esta página.",
    ),
    "it": (
        "Utilizziamo i cookie per migliorare la tua esperienza sul nostro sito.",
        "Continuando la navigazione accetti la nostra cookie policy.",
        "Accetta tutto / Rifiuta tutto / Gestisci preferenze",
        "Attiva JavaScript per visualizzare questa pagina.",
    ),
    "pt": (
        "Utilizamos cookies para melhorar a sua experiência no nosso site.",
        "Ao continuar a navegar, aceita a nossa política de cookies.",
        "Aceitar tudo / Rejeitar tudo / Gerir preferências",
        "Ative o JavaScript para ver esta página.",
    ),
}

_CLICK_PHRASES = """
Click here to read more | Cliquez ici pour en savoir plus | Hier klicken, um mehr zu lesen | Haga clic aquí para leer más | Clicca qui per saperne di più | Clique aqui para saber mais
Read the full article | Lire l'article complet | Den ganzen Artikel lesen | Leer el artículo completo | Leggi l'articolo completo | Ler o artigo completo
Continue reading | Continuer la lecture | Weiterlesen | Seguir leyendo | Continua a leggere | Continuar a ler
See all offers | Voir toutes les offres | Alle Angebote ansehen | Ver todas las ofertas | Vedi tutte le offerte | Ver todas as ofertas
Download now | Télécharger maintenant | Jetzt herunterladen | Descargar ahora | Scarica ora | Descarregar agora
Show more | Afficher plus | Mehr anzeigen | Mostrar más | Mostra di più | Mostrar mais
"""

_FOOTER_LINES = """
All rights reserved. | Tous droits réservés. | Alle Rechte vorbehalten. | Todos los derechos reservados. | Tutti i diritti riservati. | Todos os direitos reservados.
Follow us on social media. | Suivez-nous sur les réseaux sociaux. | Folgen Sie uns in den sozialen Netzwerken. | Síguenos en las redes sociales. | Seguici sui social network. | Siga-nos nas redes sociais.
Share this article | Partager cet article | Diesen Artikel teilen | Compartir este artículo | Condividi questo articolo | Partilhar este artigo
Subscribe to our newsletter | Abonnez-vous à notre newsletter | Abonnieren Sie unseren Newsletter | Suscríbete a nuestro boletín | Iscriviti alla nostra newsletter | Subscreva a nossa newsletter
Related posts | Articles similaires | Ähnliche Beiträge | Artículos relacionados | Articoli correlati | Artigos relacionados
Leave a comment | Laisser un commentaire | Kommentar hinterlassen | Deja un comentario | Lascia un commento | Deixe um comentário
Back to top | Retour en haut | Nach oben | Volver arriba | Torna su | Voltar ao topo
"""

# Link-farm words: buy, cheap, free, online, best, deals.
_SPAM_WORDS = """
buy | acheter | kaufen | comprar | comprare | comprar
cheap | pas cher | günstig | barato | economico | barato
free | gratuit | kostenlos | gratis | gratis | grátis
online | en ligne | online | en línea | online | online
best | meilleur | beste | mejor | migliore | melhor
deals | promos | Angebote | ofertas | offerte | promoções
"""

# Syllables of placeholder pseudo-Latin (lorem-ipsum-like filler of link farms).
_PSEUDO_LATIN = (
    "lo", "rem", "ip", "sum", "do", "lor", "sit", "am", "et", "con", "sec", "te", "tur",
    "ad", "pis", "cing", "el", "it", "sed", "ei", "us", "mod", "tem", "por", "in", "ci",
)

# Insults, kept at the level of mild profanity: openers x adjective x noun, plus whole lines.
# The Romance noun columns read "noun adjective" (adjectives follow the noun).
_TOXIC = {
    "en": (
        ("You are a", "Honestly, you are a", "Everyone knows you are a"),
        ("worthless", "pathetic", "useless", "brainless"),
        ("idiot", "moron", "clown", "loser", "fool"),
        (
            "Shut up, nobody cares about your stupid opinion.",
            "Only an idiot would write this garbage.",
            "What a load of crap, the author is a complete moron.",
            "Get lost, you miserable loser.",
        ),
    ),
    "fr": (
        ("Tu es un", "Franchement, tu es un", "Tout le monde sait que tu es un"),
        ("pauvre", "sale", "vrai", "gros"),
        ("idiot", "crétin", "abruti", "imbécile", "nul"),
        (
            "Ferme-la, personne ne se soucie de ton avis débile.",
            "Il faut être un crétin pour écrire de telles conneries.",
            "Quel tas de merde, l'auteur est un abruti complet.",
            "Dégage, espèce de minable.",
        ),
    ),
    "de": (
        ("Du bist ein", "Ehrlich gesagt bist du ein", "Jeder weiß, du bist ein"),
        ("wertloser", "erbärmlicher", "dummer", "nutzloser"),
        ("Idiot", "Trottel", "Versager", "Vollidiot", "Depp"),
        (
            "Halt die Klappe, deine dumme Meinung interessiert niemanden.",
            "Nur ein Idiot schreibt so einen Mist.",
            "Was für ein Schwachsinn, der Autor ist ein kompletter Trottel.",
            "Verschwinde, du elender Versager.",
        ),
    ),
    "es": (
        ("Eres un", "Sinceramente, eres un", "Todo el mundo sabe que eres un"),
        ("inútil", "patético", "sin cerebro", "miserable"),
        ("idiota", "imbécil", "payaso", "fracasado", "estúpido"),
        (
            "Cállate, a nadie le importa tu opinión estúpida.",
            "Solo un imbécil escribiría esta basura.",
            "Qué montón de mierda, el autor es un idiota total.",
            "Lárgate, fracasado de mierda.",
        ),
    ),
    "it": (
        ("Sei un", "Sinceramente, sei un", "Tutti sanno che sei un"),
        ("inutile", "patetico", "senza cervello", "miserabile"),
        ("idiota", "imbecille", "cretino", "buffone", "fallito"),
        (
            "Stai zitto, a nessuno importa la tua stupida opinione.",
            "Solo un cretino scriverebbe questa spazzatura.",
            "Che schifo, l'autore è un completo idiota.",
            "Sparisci, povero fallito.",
        ),
    ),
    "pt": (
        ("És um", "Sinceramente, és um", "Toda a gente sabe que és um"),
        ("inútil", "patético", "sem cérebro", "miserável"),
        ("idiota", "imbecil", "palhaço", "falhado", "estúpido"),
        (
            "Cala-te, ninguém quer saber da tua opinião estúpida.",
            "Só um imbecil escreveria este lixo.",
            "Que monte de porcaria, o autor é um idiota completo.",
            "Desaparece, falhado miserável.",
        ),
    ),
}

# Sentences carrying personal data; {name}, {email}, ... are filled from faker.
_PII_TEMPLATES = {
    "en": {
        "contact": "You can reach {name} at {email} or call {phone}.",
        "address": "{name} lives at {address}.",
        "phone": "For urgent questions, phone {phone} or write to {email}.",
        "card": "The payment was made with the card {card}, which expires in {expiry}.",
        "iban": "Please transfer the deposit to the account {iban}.",
        "ip": "The last login came from the address {ip}.",
        "ssn": "Her social security number is {ssn}.",
    },
    "fr": {
        "contact": "Vous pouvez joindre {name} à l'adresse {email} ou au {phone}.",
        "address": "{name} habite au {address}.",
        "phone": "En cas d'urgence, appelez le {phone} ou écrivez à {email}.",
        "card": "Le paiement a été fait avec la carte {card}, qui expire en {expiry}.",
        "iban": "Merci de virer l'acompte sur le compte {iban}.",
        "ip": "La dernière connexion venait de l'adresse {ip}.",
        "ssn": "Son numéro de sécurité sociale américain est le {ssn}.",
    },
    "de": {
        "contact": "Sie erreichen {name} unter {email} oder telefonisch unter {phone}.",
        "address": "Die Adresse von {name} lautet {address}.",
        "phone": "Bei dringenden Fragen rufen Sie {phone} an oder schreiben Sie an {email}.",
        "card": "Die Zahlung erfolgte mit der Karte {card}, die im {expiry} abläuft.",
        "iban": "Bitte überweisen Sie die Anzahlung auf das Konto {iban}.",
        "ip": "Die letzte Anmeldung kam von der Adresse {ip}.",
        "ssn": "Ihre amerikanische Sozialversicherungsnummer lautet {ssn}.",
    },
    "es": {
        "contact": "Puede contactar con {name} en {email} o llamar al {phone}.",
        "address": "{name} vive en {address}.",
        "phone": "Para preguntas urgentes, llame al {phone} o escriba a {email}.",
        "card": "El pago se hizo con la tarjeta {card}, que caduca en {expiry}.",
        "iban": "Por favor, transfiera el depósito a la cuenta {iban}.",
        "ip": "El último acceso se hizo desde la dirección {ip}.",
        "ssn": "Su número de seguro social de Estados Unidos es {ssn}.",
    },
    "it": {
        "contact": "Potete contattare {name} all'indirizzo {email} o al numero {phone}.",
        "address": "{name} abita in {address}.",
        "phone": "Per domande urgenti, chiamate il {phone} o scrivete a {email}.",
        "card": "Il pagamento è stato fatto con la carta {card}, che scade nel {expiry}.",
        "iban": "Si prega di versare l'anticipo sul conto {iban}.",
        "ip": "L'ultimo accesso è arrivato dall'indirizzo {ip}.",
        "ssn": "Il suo numero di previdenza sociale americano è {ssn}.",
    },
    "pt": {
        "contact": "Pode contactar {name} através de {email} ou pelo telefone {phone}.",
        "address": "A morada de {name} é {address}.",
        "phone": "Para questões urgentes, ligue para {phone} ou escreva para {email}.",
        "card": "O pagamento foi feito com o cartão {card}, que expira em {expiry}.",
        "iban": "Por favor, transfira o sinal para a conta {iban}.",
        "ip": "O último acesso veio do endereço {ip}.",
        "ssn": "O seu número de segurança social americano é {ssn}.",
    },
}
_FAKER_LOCALES = {
    "en": ("en_US", "en_GB"),
    "fr": ("fr_FR",),
    "de": ("de_DE",),
    "es": ("es_ES",),
    "it": ("it_IT",),
    "pt": ("pt_PT",),
}
# International phone formats, "#" a random digit: phones in several shapes per language.
_PHONE_FORMATS = {
    "en": ("(###) ###-####", "+1 ### ### ####", "###.###.####", "+44 7### ######"),
    "fr": ("+33 6 ## ## ## ##", "06.##.##.##.##", "01 ## ## ## ##"),
    "de": ("+49 151 ########", "030 ########", "(0171) ### ####"),
    "es": ("+34 6## ### ###", "91 ### ## ##", "6## ## ## ##"),
    "it": ("+39 3## ### ####", "02 #### ####", "3##-#######"),
    "pt": ("+351 9## ### ###", "21 ### ####", "9## ### ###"),
}
_CARD_TYPES = ("visa16", "mastercard", "amex", "discover", "visa16")

# Made-up site names are two of these syllables and a suffix; top-level domains by language.
_DOMAIN_SYLLABLES = (
    "bel", "cor", "dan", "fal", "gor", "hal", "kem", "lun", "mar", "nor",
    "pel", "quin", "ros", "sal", "tav", "ver", "wen", "zal", "ari", "oma",
)
_DOMAIN_SUFFIXES = ("blog", "news", "hub", "notes", "journal", "online", "magazine", "daily", "post", "guide")
_SECTIONS = ("blog", "news", "article", "post", "stories", "page", "read", *TOPICS)
_TLDS = {
    "en": ("com", "org", "net", "co.uk", "io"),
    "fr": ("fr", "com", "net"),
    "de": ("de", "com", "net"),
    "es": ("es", "com", "org"),
    "it": ("it", "com", "net"),
    "pt": ("pt", "com", "net"),
}


# --------------------------------------------------------------------------------------
# Table parsing
# --------------------------------------------------------------------------------------


def _rows(table: str) -> list[list[str]]:
    """The rows of a ``|``-separated table, one list of cells per line."""
    return [[cell.strip() for cell in line.split("|")] for line in table.strip().splitlines()]


def _columns(table: str) -> dict[str, list[str]]:
    """A six-language table, as a list of cells per language."""
    rows = _rows(table)
    return {lang: [row[i] for row in rows] for i, lang in enumerate(LANGUAGES)}


_GENDERS = {"m": 0, "f": 1, "n": 2}


def _noun(cell: str, lang: str) -> tuple[str, int]:
    """``"jardin m"`` -> ``("jardin", 0)``; English nouns have no gender column."""
    if lang == "en":
        return cell, 0
    word, gender = cell.rsplit(" ", 1)
    return word, _GENDERS[gender]


@dataclass(frozen=True)
class _Adjective:
    forms: tuple[str, str]  # masculine, feminine (German: the stem twice)
    before: bool  # goes before the noun


def _adjective(cell: str, lang: str) -> _Adjective:
    before = lang in ("en", "de") or cell.startswith("^")
    cell = cell.lstrip("^*")
    masc, _, fem = cell.partition("/")
    return _Adjective((masc, fem or masc), before)


# --------------------------------------------------------------------------------------
# Grammar: noun phrases, articles and contractions per language
# --------------------------------------------------------------------------------------

# Determiner kinds: definite, indefinite, demonstrative, possessive ("our"), distributive
# ("every"); _DET_DRAW below says how often each is drawn.
_DET_KINDS = ("def", "indef", "dem", "poss", "each")

# Romance and English determiners: (masculine, feminine). Elisions and contractions
# ("le arbre" -> "l'arbre", "de el" -> "del") are repaired afterwards (see _FIXES).
_DETERMINERS = {
    "en": {"def": ("the", "the"), "indef": ("a", "a"), "dem": ("this", "this"),
           "poss": ("our", "our"), "each": ("every", "every")},
    "fr": {"def": ("le", "la"), "indef": ("un", "une"), "dem": ("ce", "cette"),
           "poss": ("notre", "notre"), "each": ("chaque", "chaque")},
    "es": {"def": ("el", "la"), "indef": ("un", "una"), "dem": ("este", "esta"),
           "poss": ("nuestro", "nuestra"), "each": ("cada", "cada")},
    "it": {"def": ("il", "la"), "indef": ("un", "una"), "dem": ("questo", "questa"),
           "poss": ("il nostro", "la nostra"), "each": ("ogni", "ogni")},
    "pt": {"def": ("o", "a"), "indef": ("um", "uma"), "dem": ("este", "esta"),
           "poss": ("o nosso", "a nossa"), "each": ("cada", "cada")},
}

# German: determiner forms per case for (masculine, feminine, neuter), and whether an
# adjective after it takes weak ("der kleine") or mixed ("ein kleiner") endings.
_DE_DETERMINERS = {
    "def": {"nom": ("der", "die", "das"), "acc": ("den", "die", "das"), "dat": ("dem", "der", "dem")},
    "indef": {"nom": ("ein", "eine", "ein"), "acc": ("einen", "eine", "ein"),
              "dat": ("einem", "einer", "einem")},
    "dem": {"nom": ("dieser", "diese", "dieses"), "acc": ("diesen", "diese", "dieses"),
            "dat": ("diesem", "dieser", "diesem")},
    "poss": {"nom": ("unser", "unsere", "unser"), "acc": ("unseren", "unsere", "unser"),
             "dat": ("unserem", "unserer", "unserem")},
    "each": {"nom": ("jeder", "jede", "jedes"), "acc": ("jeden", "jede", "jedes"),
             "dat": ("jedem", "jeder", "jedem")},
}
_DE_WEAK = {"nom": ("e", "e", "e"), "acc": ("en", "e", "e"), "dat": ("en", "en", "en")}
_DE_MIXED = {"nom": ("er", "e", "es"), "acc": ("en", "e", "es"), "dat": ("en", "en", "en")}
_DE_MIXED_KINDS = frozenset({"indef", "poss"})

# Prepositional slots: (preposition, German case).
_PREPOSITIONS = {
    "en": {"of": ("of", ""), "with": ("with", ""), "in": ("in", ""), "for": ("for", "")},
    "fr": {"of": ("de", ""), "with": ("avec", ""), "in": ("dans", ""), "for": ("pour", "")},
    "de": {"of": ("von", "dat"), "with": ("mit", "dat"), "in": ("in", "dat"), "for": ("für", "acc")},
    "es": {"of": ("de", ""), "with": ("con", ""), "in": ("en", ""), "for": ("para", "")},
    "it": {"of": ("di", ""), "with": ("con", ""), "in": ("in", ""), "for": ("per", "")},
    "pt": {"of": ("de", ""), "with": ("com", ""), "in": ("em", ""), "for": ("para", "")},
}
_CITY_PREPOSITION = {"en": "in", "fr": "à", "de": "in", "es": "en", "it": "a", "pt": "em"}
_RELATIVE = {"en": "that", "fr": "qui", "es": "que", "it": "che", "pt": "que"}
_DE_RELATIVE = ("der", "die", "das")

_FR_VOWEL = "aeiouyhàâäéèêëîïôöûüœ"
_IT_VOWEL = "aeiouàèéìòù"


def _substitutions(*rules: tuple[str, str] | tuple[dict[str, str], str]) -> Callable[[str], str]:
    """One function applying rewrites in order.

    A rule is ``(pattern, replacement)``, or ``(table, lookahead)`` where ``table`` maps
    words to their replacement; tables also match the capitalised words (sentence starts).
    """
    compiled = []
    for what, how in rules:
        if isinstance(what, dict):
            table = dict(what)
            table.update({k[0].upper() + k[1:]: v[0].upper() + v[1:] for k, v in what.items()})
            alternatives = "|".join(re.escape(k) for k in sorted(table, key=len, reverse=True))
            compiled.append((re.compile(rf"\b(?:{alternatives}){how}"), lambda m, t=table: t[m.group(0)]))
        else:
            compiled.append((re.compile(what), how))

    def fix(text: str) -> str:
        for regex, repl in compiled:
            text = regex.sub(repl, text)
        return text

    return fix


# Articles and prepositions that merge or elide: "a apple" -> "an apple", "le arbre" ->
# "l'arbre", "de le" -> "du", "in dem" -> "im", "di il" -> "del". Noun phrases are built
# naively and repaired with these. Regexes are slow, so they never run on whole sentences:
# only on the noun phrases pre-built at import and (once each) on the heads of those with
# an adjective. French template words before a slot elide in _slot_elided.
_FIXES: dict[str, Callable[[str], str]] = {
    "en": _substitutions((r"\b([aA]) (?=[aeiou])(?!us|uni|eu)", r"\1n ")),
    "fr": _substitutions(
        (rf"\b(qu|Qu|[dlnjsDLNJS])e (?=[{_FR_VOWEL}])", r"\1'"),
        (rf"\b([lL])a (?=[{_FR_VOWEL}])", r"\1'"),
        (rf"\b([cC])e (?=[{_FR_VOWEL}])", r"\1et "),
        ({"de le ": "du ", "de les ": "des ", "à le ": "au ", "à les ": "aux "}, ""),
    ),
    "de": _substitutions(({"von dem": "vom", "in dem": "im"}, r"\b")),
    "es": _substitutions(({"de el": "del", "a el": "al"}, r"\b")),
    "it": _substitutions(
        ({"il ": "lo ", "un ": "uno "}, r"(?=s[^aeiou]|z|gn|ps|x)"),
        (
            {"il ": "l'", "la ": "l'", "una ": "un'", "questo ": "quest'", "questa ": "quest'"},
            rf"(?=[{_IT_VOWEL}])",
        ),
        (
            {"di il ": "del ", "di lo ": "dello ", "di la ": "della ", "di l'": "dell'",
             "in il ": "nel ", "in lo ": "nello ", "in la ": "nella ", "in l'": "nell'"},
            "",
        ),
    ),
    "pt": _substitutions(
        (
            {"de o": "do", "de a": "da", "de este": "deste", "de esta": "desta", "em o": "no", "em a": "na",
             "em um": "num", "em uma": "numa", "em este": "neste", "em esta": "nesta"},
            r"\b",
        ),
    ),
}

_CASES = ("nom", "acc", "dat")
# Determiner indices (into _DET_KINDS) in proportion to how often each is drawn:
# definite 55%, indefinite 25%, demonstrative 10%, possessive and distributive 5% each.
_DET_DRAW = (0,) * 11 + (1,) * 5 + (2,) * 2 + (3, 4)

# A noun: (word, gender, forms); forms[key][det] is its noun phrase without adjective, key
# a case ("nom", "acc") or a prepositional slot ("of", "with", "in", "for").
_Noun = tuple[str, int, dict[str, tuple[str, ...]]]


@dataclass(slots=True)
class _Language:
    """Everything needed to write sentences in one language."""

    code: str
    general_nouns: list[_Noun]
    topic_nouns: dict[str, list[_Noun]]
    articles: tuple  # [case][det][gender] -> determiner
    endings: tuple | None  # German adjective endings, [case][det][gender]
    adjectives: list[_Adjective]
    impersonal_adjectives: list[_Adjective]
    general_verbs: list[tuple[str, str]]
    topic_verbs: dict[str, list[tuple[str, str]]]
    adverbs: list[str]
    time_phrases: list[str]
    connectors: list[str]
    opinions: list[str]
    names: list[tuple[str, int]]
    cities: list[str]
    prepositions: dict[str, tuple[str, int]]  # slot -> (preposition, case index)
    templates: list[tuple[str, tuple]]  # (format string, the (make, argument) of its slots)
    words: list[str]  # single words of the vocabulary (near-duplicate edits, junk)
    fix: Callable[[str], str]
    # fix() of the heads of noun phrases ("de le petit"): few distinct ones, and regexes are slow.
    fixed_heads: dict[str, str] = field(default_factory=dict)


def _articles(lang: str) -> tuple[tuple, tuple | None]:
    """Determiners by [case][det][gender], and German adjective endings likewise."""
    if lang == "de":
        articles = tuple(tuple(_DE_DETERMINERS[det][case] for det in _DET_KINDS) for case in _CASES)
        endings = tuple(
            tuple((_DE_MIXED if det in _DE_MIXED_KINDS else _DE_WEAK)[case] for det in _DET_KINDS)
            for case in _CASES
        )
        return articles, endings
    by_det = tuple(_DETERMINERS[lang][det] for det in _DET_KINDS)
    return (by_det,) * len(_CASES), None


def _make_noun(cell: str, lang: str, articles: tuple) -> _Noun:
    word, gender = _noun(cell, lang)
    fix = _FIXES[lang]
    forms = {
        case: tuple(fix(f"{art[gender]} {word}") for art in by_det)
        for case, by_det in zip(_CASES, articles, strict=True)
    }
    for slot, (preposition, case) in _PREPOSITIONS[lang].items():
        by_det = articles[_CASES.index(case or "nom")]
        forms[slot] = tuple(fix(f"{preposition} {art[gender]} {word}") for art in by_det)
    return word, gender, forms


def _load_language(lang: str, index: int) -> _Language:
    def cells(table: str) -> list[str]:
        return [row[index] for row in _rows(table)]

    articles, endings = _articles(lang)
    general_nouns = [_make_noun(c, lang, articles) for c in cells(_GENERAL_NOUNS)]
    topic_nouns = {
        topic: [_make_noun(c, lang, articles) for c in cells(table)] for topic, table in _TOPIC_NOUNS.items()
    }
    adjective_rows = _rows(_ADJECTIVES)
    adjectives = [_adjective(row[index], lang) for row in adjective_rows]
    impersonal = [adj for adj, row in zip(adjectives, adjective_rows, strict=True) if row[0].startswith("*")]
    general_verbs: list[tuple[str, str]] = []
    topic_verbs: dict[str, list[tuple[str, str]]] = {topic: [] for topic in TOPICS}
    for row in _rows(_VERBS):
        topic, _, first = row[0].rpartition(":")
        third, infinitive = (first.strip() if index == 0 else row[index]).split("/")
        (topic_verbs[topic] if topic else general_verbs).append((third, infinitive))
    names = []
    for item in _NAMES[lang].split(","):
        name, gender = item.split()
        names.append((name, _GENDERS[gender]))
    prepositions = {
        slot: (word, _CASES.index(case or "nom")) for slot, (word, case) in _PREPOSITIONS[lang].items()
    }
    all_nouns = [noun for nouns in [general_nouns, *topic_nouns.values()] for noun in nouns]
    vocabulary = {w for noun in all_nouns for w in noun[0].split()}
    vocabulary.update(form for adj in adjectives for form in adj.forms)
    vocabulary.update(v for verbs in [general_verbs, *topic_verbs.values()] for pair in verbs for v in pair)
    return _Language(
        code=lang,
        general_nouns=general_nouns,
        topic_nouns=topic_nouns,
        articles=articles,
        endings=endings,
        adjectives=adjectives,
        impersonal_adjectives=impersonal,
        general_verbs=general_verbs,
        topic_verbs=topic_verbs,
        adverbs=cells(_ADVERBS),
        time_phrases=cells(_TIME_PHRASES),
        connectors=cells(_CONNECTORS),
        opinions=cells(_OPINIONS),
        names=names,
        cities=[f"{_CITY_PREPOSITION[lang]} {c.strip()}" for c in _CITIES[lang].split(",")],
        prepositions=prepositions,
        templates=[_compile_template(t, lang) for t in _TEMPLATES[lang]],
        words=sorted(w for w in vocabulary if w.isalpha()),
        fix=_FIXES[lang],
    )


@dataclass(slots=True)
class _Topic:
    """What a document draws from: its language, its topic's nouns and verbs, and sentence templates."""

    lang: _Language
    nouns: list[_Noun]
    verbs: list[tuple[str, str]]
    general_nouns: list[_Noun]
    general_verbs: list[tuple[str, str]]
    templates: list[tuple[str, tuple]]  # (format string, its slots), the language's templates


# --------------------------------------------------------------------------------------
# Sentences. This is the hot loop of the generator (tens of sentences per document, and
# benchmarks want thousands of documents a second): slots are pre-compiled handlers and
# noun phrases without adjectives are pre-built strings.
# --------------------------------------------------------------------------------------

# Share of nouns drawn from the document's topic (the rest from the general list), of
# verbs drawn from the topic's own verbs, and of noun phrases that get an adjective.
_TOPIC_NOUN_SHARE = 0.67
_TOPIC_VERB_SHARE = 0.5
_ADJECTIVE_SHARE = 0.22


def _with_adjective(rnd: Callable[[], float], language: _Language, noun: _Noun, key: str, det: int) -> str:
    """``noun`` with a determiner and an adjective, after the preposition of ``key`` if it is one."""
    word, gender, _ = noun
    adjectives = language.adjectives
    adjective = adjectives[int(rnd() * len(adjectives))]
    preposition, case = language.prepositions.get(key) or ("", 1 if key == "acc" else 0)
    article = language.articles[case][det][gender]
    if preposition:
        article = f"{preposition} {article}"
    # Only the first words can merge ("de le" -> "du", "il albero" -> "l'albero").
    if language.endings is not None:
        head, tail = f"{article} {adjective.forms[0]}{language.endings[case][det][gender]}", word
    elif adjective.before:
        head, tail = f"{article} {adjective.forms[gender]}", word
    else:
        head, tail = f"{article} {word}", adjective.forms[gender]
    fixed = language.fixed_heads.get(head)
    if fixed is None:
        fixed = language.fixed_heads[head] = language.fix(head)
    return f"{fixed} {tail}"


# Slots are closures over the word lists of one (language, topic), made once at import:
# slot(rnd, state) -> text, where state[0] is the gender of the last subject (adjectives and
# relative pronouns agree with it). Closures read their lists faster than attribute lookups.
_Slot = Callable[[Callable[[], float], list[int]], str]


def _noun_slot(topic: _Topic, arg: tuple[str, bool, bool]) -> _Slot:
    """A noun phrase: ``arg`` is (case or prepositional slot, definite article?, subject?)."""
    key, definite, subject = arg
    topical, general, language = topic.nouns, topic.general_nouns, topic.lang

    def slot(rnd, state):
        nouns = topical if rnd() < _TOPIC_NOUN_SHARE else general
        noun = nouns[int(rnd() * len(nouns))]
        if subject:
            state[0] = noun[1]
        det = 0 if definite else _DET_DRAW[int(rnd() * 20)]
        if rnd() < _ADJECTIVE_SHARE:
            return _with_adjective(rnd, language, noun, key, det)
        return noun[2][key][det]

    return slot


def _verb_slot(topic: _Topic, form: int) -> _Slot:
    """A verb: ``form`` 0 is the third person singular, 1 the infinitive."""
    topical, general = topic.verbs, topic.general_verbs

    def slot(rnd, state):
        verbs = topical if rnd() < _TOPIC_VERB_SHARE else general
        return verbs[int(rnd() * len(verbs))][form]

    return slot


def _adjective_slot(topic: _Topic, agree: bool) -> _Slot:
    """A predicate adjective agreeing with the last subject, or (impersonal) in the masculine."""
    adjectives = topic.lang.adjectives if agree else topic.lang.impersonal_adjectives

    def slot(rnd, state):
        return adjectives[int(rnd() * len(adjectives))].forms[min(state[0], 1) if agree else 0]

    return slot


def _word_slot(topic: _Topic, field_name: str) -> _Slot:
    """A word or phrase from one of the language's lists (adverbs, connectors, ...)."""
    words = getattr(topic.lang, field_name)

    def slot(rnd, state):
        return words[int(rnd() * len(words))]

    return slot


def _name_slot(topic: _Topic, _: None) -> _Slot:
    names = topic.lang.names

    def slot(rnd, state):
        name, state[0] = names[int(rnd() * len(names))]
        return name

    return slot


def _year_slot(topic: _Topic, _: None) -> _Slot:
    def slot(rnd, state):
        return str(1450 + int(rnd() * 575))

    return slot


def _relative_slot(topic: _Topic, _: None) -> _Slot:
    code = topic.lang.code

    def slot(rnd, state):
        return _DE_RELATIVE[state[0]] if code == "de" else _RELATIVE[code]

    return slot


def _elided_slot(topic: _Topic, arg: tuple) -> _Slot:
    """A French word that elides before a vowel ("de" + "utiliser" -> "d'utiliser"), then a slot."""
    word, (make, make_arg) = arg
    inner = make(topic, make_arg)

    def slot(rnd, state):
        text = inner(rnd, state)
        return f"{word[:-1]}'{text}" if text[0].lower() in _FR_VOWEL else f"{word} {text}"

    return slot


_SLOTS = {
    "S": (_noun_slot, ("nom", False, True)),
    "Sd": (_noun_slot, ("nom", True, True)),
    "O": (_noun_slot, ("acc", False, False)),
    "Od": (_noun_slot, ("acc", True, False)),
    "of": (_noun_slot, ("of", False, False)),
    "with": (_noun_slot, ("with", False, False)),
    "in": (_noun_slot, ("in", False, False)),
    "for": (_noun_slot, ("for", False, False)),
    "V": (_verb_slot, 0),
    "Vi": (_verb_slot, 1),
    "A": (_adjective_slot, True),
    "Am": (_adjective_slot, False),
    "ADV": (_word_slot, "adverbs"),
    "T": (_word_slot, "time_phrases"),
    "C": (_word_slot, "connectors"),
    "SAY": (_word_slot, "opinions"),
    "CITY": (_word_slot, "cities"),
    "N": (_name_slot, None),
    "YEAR": (_year_slot, None),
    "REL": (_relative_slot, None),
}


# French template words that elide before a vowel-initial slot.
_FR_ELIDING = ("de", "que", "ne", "le")


def _compile_template(template: str, lang: str) -> tuple[str, tuple]:
    """``"{S} {V} {O}."`` -> ``("{} {} {}.", ((make, arg), (make, arg), (make, arg)))``.

    ``make(topic, arg)`` makes the slot for a topic (see _topic).
    """
    parts = re.split(r"\{(\w+)\}", template)
    compiled: list = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            if part:
                compiled.append(part)
            continue
        if part not in _SLOTS:
            raise KeyError(f"unknown slot {{{part}}} in a {lang} template: {template!r}")
        slot = _SLOTS[part]
        previous = compiled[-1] if compiled and isinstance(compiled[-1], str) else ""
        last = previous[:-1].rpartition(" ")[2]
        if lang == "fr" and previous.endswith(" ") and last in _FR_ELIDING:
            # "... de {Vi}": the slot decides between "de " and "d'".
            compiled[-1] = previous[: len(previous) - len(last) - 1]
            if not compiled[-1]:
                compiled.pop()
            slot = (_elided_slot, (last, slot))
        compiled.append(slot)
    # str.format fills the slots in one C call: cheaper than joining pieces in Python.
    fmt = "".join(p.replace("{", "{{").replace("}", "}}") if isinstance(p, str) else "{}" for p in compiled)
    return fmt, tuple(p for p in compiled if not isinstance(p, str))


def _topic(language: _Language, name: str) -> _Topic:
    topic = _Topic(
        language, language.topic_nouns[name], language.topic_verbs[name], language.general_nouns,
        language.general_verbs, templates=[],
    )
    topic.templates = [
        (fmt, tuple(make(topic, arg) for make, arg in slots)) for fmt, slots in language.templates
    ]
    return topic


def _sentence(rnd: Callable[[], float], topic: _Topic) -> str:
    """One sentence from a random template of the topic's language."""
    templates = topic.templates
    fmt, slots = templates[int(rnd() * len(templates))]
    state = [0]
    text = fmt.format(*[slot(rnd, state) for slot in slots])
    # Capitalise the first letter (after Spanish inverted punctuation).
    if text[0] == "¿":
        return "¿" + text[1].upper() + text[2:]
    return text[0].upper() + text[1:]


_LANG = {lang: _load_language(lang, i) for i, lang in enumerate(LANGUAGES)}
_TOPIC = {(lang, topic): _topic(language, topic) for lang, language in _LANG.items() for topic in TOPICS}
_NAV = _columns(_NAV_ITEMS)
_CLICKS = _columns(_CLICK_PHRASES)
_FOOTERS = _columns(_FOOTER_LINES)
_SPAM = _columns(_SPAM_WORDS)


# --------------------------------------------------------------------------------------
# Documents, one builder per kind
# --------------------------------------------------------------------------------------

MIN_WORDS, MAX_WORDS = 80, 800


def _clean_paragraphs(rng: Random, lang: str, topic_name: str) -> list[str]:
    """Paragraphs of prose on one topic: 3-12 paragraphs of 2 or more sentences, 80-800 words in all."""
    rnd = rng.random
    topic = _TOPIC[lang, topic_name]
    # Lengths spread over the whole range, more short documents than long ones, as on the web.
    target = int(MIN_WORDS + 10 + (MAX_WORDS - MIN_WORDS - 60) * rnd() ** 3.3)
    n_paragraphs = max(3, min(12, target // rng.randint(25, 70)))
    per_paragraph = target / n_paragraphs
    paragraphs: list[list[str]] = []
    counts: list[int] = []
    for _ in range(n_paragraphs):
        sentences: list[str] = []
        words = 0
        while len(sentences) < 2 or words < per_paragraph:
            sentence = _sentence(rnd, topic)
            sentences.append(sentence)
            words += sentence.count(" ") + 1
        paragraphs.append(sentences)
        counts.append(words)
    # Each paragraph overshoots its share by up to a sentence: trim the longest ones.
    while sum(counts) > MAX_WORDS:
        i = max(range(len(counts)), key=lambda j: (len(paragraphs[j]) > 2, counts[j]))
        counts[i] -= paragraphs[i].pop().count(" ") + 1
    while sum(counts) < MIN_WORDS:
        sentence = _sentence(rnd, topic)
        paragraphs[-1].append(sentence)
        counts[-1] += sentence.count(" ") + 1
    return [" ".join(sentences) for sentences in paragraphs]


def _clean(rng: Random, lang: str) -> str:
    return "\n\n".join(_clean_paragraphs(rng, lang, rng.choice(TOPICS)))


def _exact_dup(rng: Random, text: str) -> str:
    """``text`` again, at most with other case, punctuation or whitespace: what exact dedup must merge."""
    u = rng.random()
    if u < 0.4:
        return text
    if u < 0.55:
        return text.lower()
    if u < 0.65:
        first, sep, rest = text.partition("\n\n")
        return first.upper() + sep + rest
    if u < 0.85:
        # Re-spaced: a different paragraph break, double spaces, trailing blanks.
        text = text.replace("\n\n", rng.choice(["\n", "\r\n\r\n", "\n \n", "\n\n\n"]))
        return text.replace(". ", ".  ").replace(", ", " , ") + "  "
    # Re-punctuated: paragraphs end in "!", commas turn into semicolons (every line still
    # ends in punctuation, so that quality rules keep it and dedup has to catch it).
    return text.replace(".\n", "!\n").removesuffix(".").replace(",", ";") + "!"


# ASCII punctuation -> spaces, on bytes: a Unicode \w+ regex takes twice as long, and the
# near-duplicate check tokenises every near duplicate twice.
_PUNCTUATION_TO_SPACE = bytes.maketrans(b".,;:?!'\"()-|/#", b" " * 14)


def _word_shingles(text: str, n: int = 5) -> set[tuple[bytes, ...]]:
    """The set of word ``n``-grams of ``text`` (case and ASCII punctuation ignored)."""
    words = text.casefold().encode().translate(_PUNCTUATION_TO_SPACE).split()
    return set(zip(*(words[i:] for i in range(n)), strict=False))


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


# Near duplicates stay in this band of word 5-gram Jaccard similarity to their origin:
# close enough for MinHash dedup to find, far enough not to be exact duplicates.
NEAR_DUP_JACCARD = (0.6, 0.93)


def _edit_words(rng: Random, text: str, words: list[str], n_edits: int) -> str:
    """``text`` with ``n_edits`` words inserted, deleted or substituted (paragraph breaks kept)."""
    tokens = text.split(" ")
    done = 0
    while done < n_edits:
        i = rng.randrange(len(tokens))
        op = rng.random()
        if op < 0.34:
            tokens.insert(i, rng.choice(words))
        elif "\n" in tokens[i]:
            continue  # a paragraph break: edit elsewhere
        elif op < 0.67:
            del tokens[i]
        else:
            token = tokens[i]
            tokens[i] = rng.choice(words) + (token[-1] if token[-1] in ".,;:?!" else "")
        done += 1
    return " ".join(tokens)


def _near_dup(rng: Random, text: str, lang: str) -> str:
    """A light edit of ``text``: a few % of its words changed, maybe another footer added.

    The number of edits aims at a Jaccard similarity drawn inside ``NEAR_DUP_JACCARD``: an
    edit replaces about five word 5-grams, so ``k`` edits to ``N`` 5-grams (and ``F`` new
    ones from a footer) give about ``(N - 5k) / (N + F + 5k)``.
    """
    words = _LANG[lang].words
    original = _word_shingles(text)
    n = len(original)
    target = rng.uniform(0.72, 0.9)
    footer = "\n".join(_footer_lines(rng, lang)) if rng.random() < 0.35 else ""
    f = len(_word_shingles(footer)) + 4 if footer else 0
    k = max(0 if footer else 2, round((n * (1 - target) - target * f) / (5 * (1 + target))))
    edited = _edit_words(rng, text, words, k)
    out = f"{edited}\n\n{footer}" if footer else edited
    # Edits can overlap and undo each other: check, and edit more while still too similar.
    while _jaccard(original, _word_shingles(out)) > NEAR_DUP_JACCARD[1]:
        edited = _edit_words(rng, edited, words, max(2, k // 3))
        out = f"{edited}\n\n{footer}" if footer else edited
    return out


def _footer_lines(rng: Random, lang: str) -> list[str]:
    footer = _FOOTERS[lang]
    site = _site_name(rng).capitalize()
    lines = [f"© {rng.randint(2015, 2026)} {site}. {footer[0]}"]
    lines += rng.sample(footer[1:], rng.randint(2, 4))
    lines.append("Facebook | X | LinkedIn | Email")
    return lines


def _boilerplate(rng: Random, lang: str) -> str:
    """Page furniture without content: what line- and document-level quality rules remove."""
    nouns = [noun[0] for noun in _LANG[lang].topic_nouns[rng.choice(TOPICS)]]
    blocks = {
        "cookies": lambda: list(_COOKIE_BANNERS[lang]),
        "nav": lambda: _nav_block(rng, lang),
        "click": lambda: _click_block(rng, lang, nouns),
        "links": lambda: _link_farm(rng, lang, nouns),
        "footer": lambda: _footer_lines(rng, lang),
    }
    # A cookie banner or a link farm in every page (each trips document-level rules on its
    # own), with up to three other blocks; a banner alone makes a page too short to keep.
    names = [rng.choice(("cookies", "links"))]
    names += rng.sample([name for name in blocks if name != names[0]], rng.randint(0, 3))
    rng.shuffle(names)
    lines: list[str] = []
    for name in names:
        lines.extend(blocks[name]())
    return "\n".join(lines)


def _nav_block(rng: Random, lang: str) -> list[str]:
    chosen = rng.sample(_NAV[lang], rng.randint(5, 12))
    style = rng.random()
    if style < 0.4:
        return chosen
    if style < 0.7:
        return [f"• {item}" for item in chosen]
    return [" | ".join(chosen)]


def _click_block(rng: Random, lang: str, nouns: list[str]) -> list[str]:
    phrases = _CLICKS[lang]
    bullet = rng.choice(["»", "•", "-", "›", "→"])
    return [f"{bullet} {rng.choice(nouns)}: {rng.choice(phrases)}..." for _ in range(rng.randint(4, 10))]


def _link_farm(rng: Random, lang: str, nouns: list[str]) -> list[str]:
    spam = _SPAM[lang]
    lines = []
    for _ in range(rng.randint(3, 8)):
        items = []
        for _ in range(rng.randint(3, 6)):
            noun = rng.choice(nouns)
            items.append(rng.choice([
                f"{spam[0]} {noun} {spam[3]}",
                f"{spam[4]} {noun} {spam[1]}",
                f"#{noun.replace(' ', '').lower()}",
                f"{noun} {spam[5]} 2026",
                f"{noun} {spam[2]}",
            ]))
        lines.append(" | ".join(items))
    filler = " ".join(
        "".join(rng.choice(_PSEUDO_LATIN) for _ in range(rng.randint(1, 3)))
        for _ in range(rng.randint(20, 60))
    )
    lines.append(f"Lorem ipsum {filler}.")
    return lines


_SOUP = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!@#$%^&*()_+-=[]{};:,.<>/?~|\\"
# Random bytes -> soup characters in one C call (one character per byte value).
_SOUP_TABLE = bytes(ord(_SOUP[b % len(_SOUP)]) for b in range(256))


def _junk(rng: Random, lang: str) -> tuple[str, str]:
    """Text that fails quality rules, and its language (``zxx`` where there is none)."""
    style = rng.randrange(5)
    if style == 0:  # character soup
        n_lines = rng.randint(5, 25)
        lines = [rng.randbytes(rng.randint(20, 90)).translate(_SOUP_TABLE).decode() for _ in range(n_lines)]
        return "\n".join(lines), NO_LANGUAGE
    if style == 1:  # an inlined binary blob
        blob = base64.b64encode(rng.randbytes(rng.randint(300, 3000))).decode("ascii")
        lines = [blob[j : j + 76] for j in range(0, len(blob), 76)]
        return "data:application/octet-stream;base64,\n" + "\n".join(lines), NO_LANGUAGE
    if style == 2:  # a table of numbers
        n_cols = rng.randint(3, 8)
        rows = [
            " | ".join(f"{rng.uniform(0, 10_000):.{rng.randint(0, 3)}f}" for _ in range(n_cols))
            for _ in range(rng.randint(10, 60))
        ]
        return "\n".join(rows), NO_LANGUAGE
    words = _LANG[lang].words
    if style == 3:  # one or two words over and over
        chosen = rng.sample(words, rng.randint(1, 2))
        return " ".join(chosen[k % len(chosen)] for k in range(rng.randint(60, 400))), lang
    # keyword stuffing: a handful of words in random order, no sentences
    chosen = rng.sample(words, rng.randint(3, 6))
    lines = [
        " ".join(rng.choice(chosen) for _ in range(rng.randint(5, 15))) for _ in range(rng.randint(8, 30))
    ]
    return "\n".join(lines), lang


_fakers: dict[str, object] = {}


def _faker(locale: str):
    """A Faker per locale, made once: building one takes far longer than a document."""
    if locale not in _fakers:
        from faker import Faker

        # Unweighted draws of names are ten times faster, and frequency realism does not matter here.
        _fakers[locale] = Faker(locale, use_weighting=False)
    return _fakers[locale]


def _digits(rng: Random, pattern: str) -> str:
    return "".join(str(rng.randrange(10)) if c == "#" else c for c in pattern)


def _public_ipv4(rng: Random) -> str:
    """A public-looking IPv4 address (faker's own is slow: it filters private networks)."""
    first = rng.choice((23, 31, 45, 62, 77, 81, 89, 93, 104, 109, 128, 145, 151, 178, 185, 193, 203, 212))
    return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randint(1, 254)}"


def _card_number(fake, rng: Random) -> str:
    """A Luhn-valid card number, written plain or in groups as people type them."""
    number = fake.credit_card_number(card_type=rng.choice(_CARD_TYPES))
    style = rng.random()
    if style < 0.4 or len(number) != 16:
        return number
    sep = " " if style < 0.8 else "-"
    return sep.join(number[j : j + 4] for j in range(0, 16, 4))


def _pii_sentences(rng: Random, lang: str, doc_seed: int) -> list[str]:
    """Sentences full of personal data, every kind at least once (two phones, two shapes)."""
    locales = _FAKER_LOCALES[lang]
    fake = _faker(locales[rng.randrange(len(locales))])
    fake.seed_instance(doc_seed)
    us = _faker("en_US")
    us.seed_instance(doc_seed + 1)
    templates = _PII_TEMPLATES[lang]
    phone_formats = _PHONE_FORMATS[lang]

    makers: dict[str, Callable[[], str]] = {
        "name": fake.name,
        "address": lambda: fake.address().replace("\n", ", "),
        "email": fake.email,
        # Faker's local formats and our international ones: phones come in many shapes.
        "phone": lambda: (
            fake.phone_number() if rng.random() < 0.3 else _digits(rng, rng.choice(phone_formats))
        ),
        # Card numbers are not local; en_US knows every card type.
        "card": lambda: _card_number(us, rng),
        "expiry": lambda: f"{rng.randint(1, 12):02d}/{rng.randint(27, 34)}",
        "iban": fake.iban,
        "ip": lambda: _public_ipv4(rng),
        "ssn": us.ssn,
    }
    keys = list(templates)
    keys += rng.sample(keys, rng.randint(0, 2))
    rng.shuffle(keys)
    sentences = []
    for key in keys:
        template = templates[key]
        # Only the fields the sentence shows: faker calls cost more than the rest of a document.
        fields = {name: make() for name, make in makers.items() if "{" + name + "}" in template}
        sentences.append(template.format(**fields))
    return sentences


def _pii(rng: Random, lang: str, doc_seed: int) -> str:
    """A clean document with paragraphs of personal data woven in."""
    paragraphs = _clean_paragraphs(rng, lang, rng.choice(TOPICS))
    sentences = _pii_sentences(rng, lang, doc_seed)
    # Spread the personal data over two or three places, each after a paragraph of prose.
    n_groups = min(len(paragraphs), rng.randint(2, 3))
    cut = sorted(rng.sample(range(1, len(sentences)), n_groups - 1))
    groups = [sentences[a:b] for a, b in zip([0, *cut], [*cut, len(sentences)], strict=True)]
    spots = sorted(rng.sample(range(1, len(paragraphs) + 1), n_groups), reverse=True)
    for spot, group in zip(spots, groups, strict=True):
        paragraphs.insert(spot, " ".join(group))
    return "\n\n".join(paragraphs)


def _toxic_lines(rng: Random, lang: str, n: int) -> list[str]:
    openers, adjectives, nouns, whole = _TOXIC[lang]
    lines = set()
    while len(lines) < n:
        if rng.random() < 0.5:
            lines.add(rng.choice(whole))
        elif lang in ("en", "fr", "de"):
            lines.add(f"{rng.choice(openers)} {rng.choice(adjectives)} {rng.choice(nouns)}.")
        else:
            lines.add(f"{rng.choice(openers)} {rng.choice(nouns)} {rng.choice(adjectives)}.")
    return sorted(lines)


def _toxic(rng: Random, lang: str) -> str:
    """A clean document with a few abusive lines, each a paragraph of its own (like comments)."""
    paragraphs = _clean_paragraphs(rng, lang, rng.choice(TOPICS))
    lines = _toxic_lines(rng, lang, rng.randint(2, 4))
    rng.shuffle(lines)
    for line in lines:
        paragraphs.insert(rng.randint(1, len(paragraphs)), line)
    return "\n\n".join(paragraphs)


# --------------------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------------------


def _site_name(rng: Random) -> str:
    return rng.choice(_DOMAIN_SYLLABLES) + rng.choice(_DOMAIN_SYLLABLES)


def _url(rng: Random, lang: str) -> str:
    """A made-up address; nothing in it gives the kind of the document away."""
    site = _site_name(rng)
    if rng.random() < 0.6:
        site += "-" + rng.choice(_DOMAIN_SUFFIXES)
    host = ("www." if rng.random() < 0.5 else "") + f"{site}.{rng.choice(_TLDS[lang])}"
    return f"https://{host}/{rng.choice(_SECTIONS)}/{rng.randint(2015, 2026)}/{rng.randrange(10**7):07d}"


def _crawl_date(rng: Random) -> str:
    seconds = int(rng.random() * 336 * 86_400)  # twelve months of 28 days
    day, seconds = divmod(seconds, 86_400)
    hours, minutes = seconds // 3600, seconds // 60 % 60
    return f"2026-{day // 28 + 1:02d}-{day % 28 + 1:02d}T{hours:02d}:{minutes:02d}:{seconds % 60:02d}Z"


def _doc_seed(seed: int, index: int) -> int:
    """The seed of faker for document ``index``."""
    digest = hashlib.blake2b(f"assay-sample:{seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _draw(u: float, options: tuple[str, ...], weights: tuple[float, ...]) -> str:
    edge = 0.0
    for option, weight in zip(options, weights, strict=True):
        edge += weight
        if u < edge:
            return option
    return options[-1]


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


def generate(n_docs: int, seed: int = 0) -> Iterator[dict]:
    """Yield ``n_docs`` synthetic web documents, the same ones for the same ``seed``.

    Args:
        n_docs: Number of documents.
        seed: Seed of the corpus; the first ``k`` documents are the same whatever ``n_docs``.

    Yields:
        Records ``{"doc_id", "url", "text", "kind", "lang", "crawl_date"}``; ``kind`` (one of
        ``KINDS``) and ``lang`` are the ground truth.
    """
    for record, _ in generate_with_origins(n_docs, seed):
        yield record


def generate_with_origins(n_docs: int, seed: int = 0) -> Iterator[tuple[dict, str | None]]:
    """Like :func:`generate`, with the ``doc_id`` each duplicate was copied from (else ``None``).

    Args:
        n_docs: Number of documents.
        seed: Seed of the corpus.

    Yields:
        ``(record, origin_doc_id)`` pairs, for checking dedup against the truth.
    """
    if n_docs < 0:
        raise ValueError(f"n_docs must be >= 0, got {n_docs}")
    reservoir: collections.deque[tuple[str, str, str]] = collections.deque(maxlen=RESERVOIR_SIZE)
    # One stream for the whole corpus: document i consumes the same draws whatever n_docs is.
    rng = Random(f"assay-sample:{seed}")
    for index in range(n_docs):
        kind = _draw(rng.random(), KINDS, KIND_WEIGHTS)
        lang = _draw(rng.random(), LANGUAGES, LANGUAGE_WEIGHTS)
        doc_id = f"doc-{index + 1:06d}"
        origin = None
        if kind in ("exact_dup", "near_dup") and not reservoir:
            kind = "clean"  # nothing to copy yet
        if kind == "clean":
            text = _clean(rng, lang)
            reservoir.append((doc_id, text, lang))
        elif kind in ("exact_dup", "near_dup"):
            origin, source, lang = reservoir[rng.randrange(len(reservoir))]
            text = _exact_dup(rng, source) if kind == "exact_dup" else _near_dup(rng, source, lang)
        elif kind == "boilerplate":
            text = _boilerplate(rng, lang)
        elif kind == "junk":
            text, lang = _junk(rng, lang)
        elif kind == "pii":
            text = _pii(rng, lang, _doc_seed(seed, index))
        else:
            text = _toxic(rng, lang)
        record = {
            "doc_id": doc_id,
            "url": _url(rng, lang if lang in _TLDS else "en"),
            "text": text,
            "kind": kind,
            "lang": lang,
            "crawl_date": _crawl_date(rng),
        }
        yield record, origin


def _open_compressed(path: str, raw: BinaryIO) -> BinaryIO | None:
    """A binary writer over ``raw`` compressing by the extension of ``path``."""
    if path.endswith(".gz"):
        # No file name and mtime 0 in the header: the same corpus gives the same bytes. Level 1:
        # compressing at 6 would take a third of the time of generating (for 15% smaller files).
        return gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0)
    if path.endswith(".zst"):
        import zstandard

        return zstandard.ZstdCompressor(level=3).stream_writer(raw, closefd=False)
    return None


def write_jsonl(path: str | os.PathLike, n_docs: int, seed: int = 0) -> int:
    """Write :func:`generate`'s documents as JSON lines, compressed by extension.

    ``.jsonl`` is plain, ``.jsonl.gz`` gzip and ``.jsonl.zst`` Zstandard. The file
    appears whole or not at all (written to a temporary name, then renamed).

    Args:
        path: Output file.
        n_docs: Number of documents.
        seed: Seed of the corpus.

    Returns:
        The number of records written.
    """
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    written = 0
    try:
        with open(tmp, "wb") as raw:
            compressed = _open_compressed(path, raw)
            out = compressed or raw
            batch: list[str] = []
            for record in generate(n_docs, seed):
                batch.append(json.dumps(record, ensure_ascii=False))
                if len(batch) == 1000:
                    out.write(("\n".join(batch) + "\n").encode("utf-8"))
                    written += len(batch)
                    batch = []
            if batch:
                out.write(("\n".join(batch) + "\n").encode("utf-8"))
                written += len(batch)
            if compressed is not None:
                compressed.close()
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return written


def main(argv: list[str] | None = None) -> None:
    """``python -m operators.sample_corpus OUT --docs N --seed S``."""
    parser = argparse.ArgumentParser(description="Write the synthetic sample corpus as JSON lines.")
    parser.add_argument("out", help="output file: .jsonl, .jsonl.gz or .jsonl.zst")
    parser.add_argument("--docs", type=int, default=3_000, help="number of documents (default: 3000)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default: 0)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    n = write_jsonl(args.out, args.docs, args.seed)
    elapsed = time.perf_counter() - start
    print(f"wrote {n:,} documents to {args.out} in {elapsed:.1f}s ({n / max(elapsed, 1e-9):,.0f} docs/s)",
          file=sys.stderr)


if __name__ == "__main__":
    main()
